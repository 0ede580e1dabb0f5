"""The demo's story: the lifecycle stage by stage, over the platform's public functions."""

from finmlops.emulator.story.lifecycle import STORY, Lifecycle, Summary, run_story

__all__ = ["STORY", "Lifecycle", "Summary", "run_story"]
