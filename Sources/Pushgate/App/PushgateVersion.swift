/// The version of this build (`pushgate --version`, the start-up log, `/readyz`).
public enum PushgateVersion {
    /// Semantic version; bumped with every release.
    public static let current = "0.3.0"
}
