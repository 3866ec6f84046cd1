"""Token management: list, create (shows the key once) and revoke your own tokens."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from ..models import APIToken
from ..serializers import TokenCreatedSerializer, TokenSerializer
from ..services import issue_token, revoke_token
from .common import PERMISSIONS


class TokenListCreate(generics.ListCreateAPIView):
    permission_classes = PERMISSIONS
    serializer_class = TokenSerializer
    pagination_class = None

    def get_queryset(self):
        return APIToken.objects.filter(user=self.request.user)

    @extend_schema(request=TokenSerializer, responses={201: TokenCreatedSerializer})
    def post(self, request, *args, **kwargs):
        if isinstance(request.auth, APIToken):
            # A leaked token must not be able to mint itself successors.
            raise PermissionDenied("Create tokens from a signed-in browser session.")
        serializer = TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = issue_token(user=request.user, **serializer.validated_data)
        data = TokenCreatedSerializer(token).data
        data["key"] = key
        return Response(data, status=status.HTTP_201_CREATED)


class TokenRevoke(generics.RetrieveDestroyAPIView):
    """DELETE revokes the token at once; it stays listed, marked revoked."""

    permission_classes = PERMISSIONS
    serializer_class = TokenSerializer

    def get_queryset(self):
        return APIToken.objects.filter(user=self.request.user)

    def perform_destroy(self, instance):
        revoke_token(instance)
