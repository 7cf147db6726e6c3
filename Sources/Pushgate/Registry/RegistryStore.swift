/// Durable storage behind the ``Registry``. The registry serves every lookup from memory and
/// writes through to the store before it answers, so a store only needs to load everything at
/// start-up and persist changes. SQLite implements it here; a networked database (for several
/// Pushgate instances) can implement it later. The registry serializes its writes, so a store
/// never sees two of them at once from one ``Registry``.
public protocol RegistryStore: Sendable {
    /// Everything stored: live subscriptions, and push tokens of deleted ones (so pushes to
    /// them get 410 rather than 404).
    func load() async throws -> RegistrySnapshot
    /// Persists a new subscription; returns once it is durable.
    func insert(_ subscription: Subscription) async throws
    /// Persists many new subscriptions in one transaction (`pushgate admin create-subscriptions`).
    func insert(batch subscriptions: [Subscription]) async throws
    /// Marks a subscription deleted and removes it from every list, in one atomic write;
    /// returns once it is durable.
    func markDeleted(id: SubscriptionID, at time: Int64) async throws
    /// Persists a new list with its members, atomically.
    func insertList(_ list: PushList) async throws
    /// Applies membership changes to a list, atomically.
    func updateList(id: ListID, _ changes: [ListChange]) async throws
    /// Deletes a list and its memberships.
    func deleteList(id: ListID) async throws
    /// The installation's 32-octet secret, created at random on first use and the same ever
    /// after (route push URLs are derived from it; see ``BroadcastTokenDerivation``).
    func installationSecret() async throws -> [UInt8]
    /// Closes the store.
    func close() async throws
}

/// The store's contents, as loaded at start-up.
public struct RegistrySnapshot: Sendable {
    /// Live subscriptions.
    public var subscriptions: [Subscription]
    /// Push tokens of deleted subscriptions.
    public var deletedPushTokens: [PushToken]
    /// Lists, with their members.
    public var lists: [PushList]

    /// Creates a snapshot.
    public init(subscriptions: [Subscription] = [], deletedPushTokens: [PushToken] = [], lists: [PushList] = []) {
        self.subscriptions = subscriptions
        self.deletedPushTokens = deletedPushTokens
        self.lists = lists
    }
}
