/// Durable storage behind the ``Registry``. The registry serves every lookup from memory and
/// writes through to the store before it answers, so a store needs to load everything at
/// start-up, answer the push path's reads by key while that load runs, and persist changes. SQLite implements it here. The registry serializes its writes,
/// so a store never sees two of them at once from one ``Registry``. It also keeps the held Topic
/// messages of ``MQTTDelivery`` (``HeldMessageStore``), since deleting a subscription drops them,
/// and the receipts (``ReceiptStore``).
public protocol RegistryStore: HeldMessageStore, ReceiptStore {
    /// Everything stored: live subscriptions and sets, push tokens of deleted subscriptions (so
    /// pushes to them get 410 rather than 404, until purged), lists.
    func load() async throws -> RegistrySnapshot
    /// What a push token refers to, read from the store itself: how the ``Registry`` answers
    /// while its index fills after a start (see ``Registry/fill()``).
    func lookup(pushToken: PushToken) async throws -> Registry.Lookup
    /// The live subscriptions among `pushTokens`, read from the store itself (while the index fills).
    func subscriptions(pushTokens: [PushToken]) async throws -> [Subscription]
    /// The list with this list-resource id, read from the store itself (while the index fills).
    func list(id: ListID) async throws -> PushList?
    /// The list behind a list push token, read from the store itself (while the index fills).
    func list(pushToken: ListPushToken) async throws -> PushList?
    /// Persists a new subscription (and its set, if the set is new); returns once it is durable.
    func insert(_ subscription: Subscription) async throws
    /// Persists many new subscriptions, and the sets among theirs that are new, in one
    /// transaction (grouped subscribes, `pushgate admin create-subscriptions`).
    func insert(batch subscriptions: [Subscription]) async throws
    /// Marks a subscription deleted, removes it from every list and drops its held messages, in
    /// one atomic write; returns once it is durable.
    func markDeleted(id: SubscriptionID, at time: Int64) async throws
    /// Deletes a set and every subscription in it, as ``markDeleted(id:at:)`` does, atomically.
    func deleteSet(id: SetID, at time: Int64) async throws
    /// Forgets subscriptions and sets deleted before `time` (their push URLs then answer 404).
    func purgeDeleted(before time: Int64) async throws
    /// Persists a new list with its members, atomically.
    func insertList(_ list: PushList) async throws
    /// Applies membership changes to a list, atomically.
    func updateList(id: ListID, _ changes: [ListChange]) async throws
    /// Deletes a list and its memberships.
    func deleteList(id: ListID) async throws
    /// The installation's 32-octet secret, created at random on first use and the same ever
    /// after (broadcast push URLs and Topic slots are derived from it).
    func installationSecret() async throws -> [UInt8]
    /// Closes the store.
    func close() async throws
}

/// The store's contents, as loaded at start-up.
public struct RegistrySnapshot: Sendable {
    /// Live subscriptions.
    public var subscriptions: [Subscription]
    /// Push tokens of deleted subscriptions, with when they were deleted.
    public var deletedPushTokens: [PushToken: Int64]
    /// Live subscription sets.
    public var sets: [SubscriptionSet]
    /// Lists, with their members.
    public var lists: [PushList]

    /// Creates a snapshot.
    public init(subscriptions: [Subscription] = [], deletedPushTokens: [PushToken: Int64] = [:], sets: [SubscriptionSet] = [],
                lists: [PushList] = []) {
        self.subscriptions = subscriptions
        self.deletedPushTokens = deletedPushTokens
        self.sets = sets
        self.lists = lists
    }
}
