/// DICOMStore: see docs/ARCHITECTURE.md.
public enum DICOMStoreModule {}
