/// Deny-by-default authorization: principals, actions, resources, purposes.
public enum StrongroomPolicyModule {}
