"""Stage 1 of the method: reward-guided prompt evolution, and preference-pair building."""
