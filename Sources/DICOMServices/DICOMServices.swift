/// DICOMServices: see docs/ARCHITECTURE.md.
public enum DICOMServicesModule {}
