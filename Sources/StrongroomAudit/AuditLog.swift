/// The tamper-evident audit log.
public enum StrongroomAuditModule {}
