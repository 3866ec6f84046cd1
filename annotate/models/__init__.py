"""The labeling domain: problems and their step trees, projects, assignments and ratings."""

from .critiques import Critique
from .hints import PreAnnotation
from .labeling import Assignment, GoldLabel, RatingChange, StepRating
from .problems import Problem, Solution, StepNode
from .projects import Membership, Project
from .traces import SolutionTrace, StepGroup

__all__ = [
    "Assignment",
    "Critique",
    "GoldLabel",
    "Membership",
    "PreAnnotation",
    "Problem",
    "Project",
    "RatingChange",
    "Solution",
    "SolutionTrace",
    "StepGroup",
    "StepNode",
    "StepRating",
]
