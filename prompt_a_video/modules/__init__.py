"""LightningModules of the refiner (SFT today; DPO next)."""
