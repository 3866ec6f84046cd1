from django.contrib import admin

from .models import ExportSnapshot


@admin.register(ExportSnapshot)
class ExportSnapshotAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "format", "status", "row_count", "created_by", "created")
    readonly_fields = [f.name for f in ExportSnapshot._meta.fields]
