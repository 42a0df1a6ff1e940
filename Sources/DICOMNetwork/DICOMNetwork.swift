/// DICOMNetwork: see docs/ARCHITECTURE.md.
public enum DICOMNetworkModule {}
