/// DICOMRewrite: see docs/ARCHITECTURE.md.
public enum DICOMRewriteModule {}
