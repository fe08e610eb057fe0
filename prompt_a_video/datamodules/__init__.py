"""LightningDataModules: evolved pools -> SFT examples (preference pairs -> DPO next)."""
