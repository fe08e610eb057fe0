"""Reward models behind one interface (:class:`Reward`) and their composite aggregation."""
