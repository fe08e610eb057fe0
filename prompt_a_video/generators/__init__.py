"""Text-to-video / text-to-image backbones behind one interface (:class:`Generator`)."""
