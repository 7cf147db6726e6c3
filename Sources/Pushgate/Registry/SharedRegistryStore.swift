/// A ``RegistryStore`` that several Pushgate instances share (PostgreSQL).
///
/// Each instance's ``Registry`` index is then a cache of the store, kept current from the store's
/// change log: every registry write appends the ids it touched, in commit order, and signals the
/// other instances; an instance applies the log from where it left off (``changes(after:)``).
/// Changes are read back as current state, not replayed as events, so applying one twice, or
/// one the index already has, is harmless.
public protocol SharedRegistryStore: RegistryStore {
    /// Runs `body` as one transaction that holds the cluster-wide registry write lock: the
    /// store's writes made inside it join that transaction and commit when `body` returns (or
    /// roll back when it throws). While it is held no other instance commits a registry change,
    /// so what `body` checks after catching up stays true until it commits. Returns `body`'s
    /// value and the change-log position of the newest change it wrote, if any.
    func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> (value: T, position: Int64?)
    /// The newest change-log position; read before ``RegistryStore/load()`` so that nothing
    /// committed during the load is missed.
    func changePosition() async throws -> Int64
    /// What changed after `position`, as the state each touched entity has now.
    func changes(after position: Int64) async throws -> RegistryChanges
    /// A signal each time another instance may have changed something (and after the store
    /// reconnects its listener, when notifications may have been missed). Ends when the store
    /// closes.
    func changeSignals() -> AsyncStream<Void>
    /// Whether the database answers right now (as far as the store knows).
    var isReachable: Bool { get }
}

/// Registry entities touched after a change-log position, as they are now.
public struct RegistryChanges: Sendable {
    /// What a touched subscription is now.
    public enum SubscriptionState: Sendable, Equatable {
        /// Live.
        case live(Subscription)
        /// Deleted at this time (its push token answers 410).
        case deleted(PushToken, at: Int64)

        /// The subscription, if it is live.
        var live: Subscription? {
            if case .live(let subscription) = self { subscription } else { nil }
        }
    }

    /// The newest position these changes cover.
    public var position: Int64
    /// `true` when the log no longer reaches back to the position asked for (it was pruned while
    /// the instance was away): the index must be reloaded from scratch.
    public var gap: Bool
    /// Touched subscriptions that still have a row.
    public var subscriptions: [SubscriptionState]
    /// Touched sets: the live ones, and the ids of deleted or purged ones.
    public var sets: [SubscriptionSet]
    /// Touched sets that are deleted or gone.
    public var removedSets: [SetID]
    /// Touched lists that exist, with their members.
    public var lists: [PushList]
    /// Touched lists that no longer exist.
    public var removedLists: [ListID]

    /// Creates a change set.
    public init(position: Int64, gap: Bool = false, subscriptions: [SubscriptionState] = [], sets: [SubscriptionSet] = [],
                removedSets: [SetID] = [], lists: [PushList] = [], removedLists: [ListID] = []) {
        self.position = position
        self.gap = gap
        self.subscriptions = subscriptions
        self.sets = sets
        self.removedSets = removedSets
        self.lists = lists
        self.removedLists = removedLists
    }

    /// Whether nothing changed.
    public var isEmpty: Bool {
        !gap && subscriptions.isEmpty && sets.isEmpty && removedSets.isEmpty && lists.isEmpty && removedLists.isEmpty
    }
}
