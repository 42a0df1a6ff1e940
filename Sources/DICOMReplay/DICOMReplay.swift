/// DICOMReplay: see docs/ARCHITECTURE.md.
public enum DICOMReplayModule {}
