import NIOConcurrencyHelpers
public import WebPush

/// Subscriptions and lists, served from memory, written through to a ``RegistryStore``.
///
/// The push path does no I/O once the index is in (below): a push token is a dictionary lookup
/// in the ``RegistryIndex``.
/// Every change is one critical section: it re-reads the current state, checks it, writes the
/// store, and only once that is durable updates the index. Writes are serialized (FIFO), so two
/// requests changing the same list cannot both start from the same snapshot, and a 201 never
/// promises what a restart would forget.
///
/// On a ``SharedRegistryStore`` (several instances on one PostgreSQL) the index is a cache of the
/// store and is changed only from the store's change log: a write holds the cluster-wide write
/// lock, catches up, checks, writes, commits, and catches up again (which brings in its own
/// change). Another instance's change arrives with its notification, or — for a token this
/// instance has not seen yet — on the lookup that misses (one catch-up query, shared by every
/// lookup waiting at the time), so what was created anywhere is usable everywhere at once.
///
/// After a start the index is read in by ``fill()``, which takes about 5 s per million
/// subscriptions. Until it is in, the registry answers reads from the store itself (one indexed
/// query per push) and refuses writes with ``Filling``, so an instance can serve pushes within
/// a second of starting however large its registry (issue 16).
public final class Registry: Sendable {
    /// What a push token refers to.
    public enum Lookup: Sendable {
        /// A live subscription.
        case active(Subscription)
        /// A subscription that was deleted (answer 410).
        case deleted
        /// Nothing (answer 404).
        case unknown

        /// What a stored row, or its absence, answers for a push token (a store's reads by key).
        init(_ row: RegistryChanges.SubscriptionState?) {
            switch row {
            case .live(let subscription): self = .active(subscription)
            case .deleted: self = .deleted
            case nil: self = .unknown
            }
        }
    }

    private let store: any RegistryStore
    private let shared: (any SharedRegistryStore)?
    private let index: NIOLockedValueBox<RegistryIndex>
    /// Serializes read-check-write sequences; reads of the index never wait for it.
    private let writes = AsyncMutex()
    /// The change-log position the index has applied, and the catch-up bookkeeping.
    private let feed: NIOLockedValueBox<FeedState>
    /// One catch-up at a time; callers that arrive while one runs share the next.
    private let catchUpGate = AsyncMutex()

    private struct FeedState {
        var position: Int64
        /// When a catch-up last succeeded.
        var syncedAt = ContinuousClock.now
        /// Tickets: each catch-up request takes the next; a fetch that starts after a ticket was
        /// issued covers it.
        var issued: UInt64 = 0
        var covered: UInt64 = 0
    }

    private init(store: any RegistryStore) {
        self.store = store
        self.shared = store as? any SharedRegistryStore
        var empty = RegistryIndex()
        empty.isComplete = false
        self.index = NIOLockedValueBox(empty)
        self.feed = NIOLockedValueBox(FeedState(position: 0))
    }

    /// A registry on `store` that answers from the store until ``fill()`` has read it in.
    public static func open(_ store: any RegistryStore) -> Registry {
        Registry(store: store)
    }

    /// Loads everything from `store` (``open(_:)`` and ``fill()``).
    public static func load(from store: any RegistryStore) async throws -> Registry {
        let registry = Registry(store: store)
        try await registry.fill()
        return registry
    }

    /// Reads the store into the index; from then on reads are memory only and writes are taken.
    /// Call it once. Reading ten million subscriptions takes about a minute on two cores, most
    /// of it hashing them into tables (issue 16); meanwhile reads go to the store.
    public func fill() async throws {
        let position = try await shared?.changePosition() ?? 0
        let filled = RegistryIndex(try await store.load())
        // Under both locks: no write (refused until now anyway) and no catch-up of the change
        // feed (which starts from `position` once the index is in) interleaves with the swap.
        await writes.withLock {
            await catchUpGate.withLock {
                index.withLockedValue { $0 = filled }
                feed.withLockedValue { state in
                    state.position = position
                    state.syncedAt = .now
                }
            }
        }
        HeapTrim.releaseFreeMemory()  // the snapshot is gone: its memory goes back to the kernel
        // What other instances changed while this one read: at once rather than at the next tick.
        try? await catchUp()
    }

    /// Whether the index is still being read in (``fill()``): reads go to the store, writes are
    /// refused with ``Filling``.
    public var isFilling: Bool { index.withLockedValue { !$0.isComplete } }

    /// A write while the index is being read in after a start (``fill()``): nothing was changed.
    public struct Filling: Error, CustomStringConvertible {
        public var description: String { "the registry is still being read in after a start; changes are taken once it is in" }
    }

    /// Whether the index is a cache of a store other instances write too.
    public var isShared: Bool { shared != nil }

    /// How long the cache may go without hearing from a shared store before its answers are
    /// refused: past it, a subscription deleted through another instance could still be pushed
    /// to here, so the bound on a delete's propagation would no longer hold.
    public static let maxStaleness = Duration.seconds(30)

    /// Whether the shared store answers (always `true` on a private one).
    public var isStoreReachable: Bool { shared?.isReachable ?? true }

    /// How long since the index last caught up with a shared store (zero on a private one).
    public var staleness: Duration {
        // While the index fills, reads go to the store itself: nothing cached can be stale.
        guard shared != nil, !isFilling else { return .zero }
        return ContinuousClock.now - feed.withLockedValue { $0.syncedAt }
    }

    /// The cache has not heard from the shared store for longer than ``maxStaleness``.
    public struct Stale: Error, CustomStringConvertible {
        /// How long.
        public let staleness: Duration
        public var description: String { "the registry cache has not reached PostgreSQL for \(staleness)" }
    }

    // MARK: The change feed (shared stores)

    /// Applies every change committed before this call (on a shared store; otherwise nothing).
    public func catchUp() async throws {
        guard let shared else { return }
        let ticket = feed.withLockedValue { state in
            state.issued += 1
            return state.issued
        }
        try await catchUpGate.withLock {
            let (covered, start) = feed.withLockedValue { ($0.covered >= ticket, $0.issued) }
            // While the index fills there is nothing to catch up: `fill()` starts the feed from
            // the position it read before its load.
            if covered || isFilling { return }
            let started = ContinuousClock.now
            defer { PushgateMetrics.registryCatchUp.recordInterval(since: started) }
            var position = feed.withLockedValue { $0.position }
            while true {
                let changes = try await shared.changes(after: position)
                if changes.gap {
                    // The log was pruned past us: start again from a full load.
                    let newest = try await shared.changePosition()
                    let snapshot = try await shared.load()
                    index.withLockedValue { $0 = RegistryIndex(snapshot) }
                    position = newest
                    continue
                }
                if changes.isEmpty, changes.position == position { break }
                index.withLockedValue { $0.apply(changes) }
                position = changes.position
            }
            feed.withLockedValue { state in
                state.position = position
                state.covered = max(state.covered, start)
                state.syncedAt = .now
            }
        }
    }

    /// Follows the change feed until cancelled: a catch-up on every signal of the store, and once
    /// a second regardless, so a lost notification delays a change by at most that.
    public func followChanges(onError: @escaping @Sendable (any Error) -> Void) async {
        guard let shared else { return }
        await withTaskGroup(of: Void.self) { group in
            let (ticks, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            group.addTask {
                for await _ in shared.changeSignals() { continuation.yield() }
                continuation.finish()
            }
            group.addTask {
                while (try? await Task.sleep(for: Self.pollInterval)) != nil { continuation.yield() }
                continuation.finish()
            }
            for await _ in ticks {
                do { try await catchUp() } catch { onError(error) }
            }
            group.cancelAll()
        }
    }

    /// How often the feed is read without a notification: the bound on a delete's propagation
    /// when notifications are lost.
    public static let pollInterval = Duration.seconds(1)

    /// `read` on the index; while the index fills and it finds nothing, `readStore` on the store;
    /// on a shared store, when it finds nothing, once more after catching up (the thing may have
    /// been created through another instance a moment ago).
    private func fresh<T>(_ read: (RegistryIndex) -> T?, orFromStore readStore: () async throws -> T?) async throws -> T? {
        // One critical section for both: a fill that completes between a miss and a look at
        // the flag would otherwise turn the miss into a wrong 404.
        let (found, complete) = index.withLockedValue { (read($0), $0.isComplete) }
        if let found { return found }
        guard complete else { return try await readStore() }
        guard shared != nil else { return nil }
        try await catchUp()
        return index.withLockedValue { read($0) }
    }

        // MARK: Reads (memory only)

    /// The subscription behind a push token. Memory only, unless the token is unknown here and
    /// the store is shared (then one catch-up, which can throw), or the index is still filling
    /// (then one query to the store).
    public func lookup(pushToken: PushToken) async throws -> Lookup {
        if shared != nil {
            let staleness = self.staleness
            if staleness > Self.maxStaleness { throw Stale(staleness: staleness) }
        }
        let found = try await fresh({ index -> Lookup? in
            if let subscription = index.subscription(pushToken: pushToken) { return .active(subscription) }
            return index.deletedPushTokens[pushToken] != nil ? .deleted : nil
        }, orFromStore: { try await store.lookup(pushToken: pushToken) })
        return found ?? .unknown
    }

    /// The subscription with this subscription-resource id.
    public func subscription(id: SubscriptionID) -> Subscription? {
        index.withLockedValue { $0.subscription(id: id) }
    }

    /// Live subscriptions.
    public var count: Int { index.withLockedValue { $0.subscriptionCount } }

    /// The live subscription set with this id.
    public func set(id: SetID) -> SubscriptionSet? {
        index.withLockedValue { $0.set(id: id) }
    }

    /// Whether `pushToken` names a live subscription.
    public func isSubscription(pushToken: PushToken) -> Bool {
        index.withLockedValue { $0.subscription(pushToken: pushToken) != nil }
    }

    /// Subscriptions for member tokens (skipping any that no longer exist). Memory only, unless
    /// the index is still filling (then queries to the store).
    public func subscriptions(pushTokens: [PushToken]) async throws -> [PushToken: Subscription] {
        let (inMemory, complete) = index.withLockedValue { index in
            guard index.isComplete else { return ([PushToken: Subscription](), false) }
            var found: [PushToken: Subscription] = [:]
            found.reserveCapacity(pushTokens.count)
            for token in pushTokens { found[token] = index.subscription(pushToken: token) }
            return (found, true)
        }
        if complete { return inMemory }
        let stored = try await store.subscriptions(pushTokens: pushTokens)
        return Dictionary(stored.map { ($0.pushToken, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The list with this list-resource id (inside a write's critical section: current).
    public func list(id: ListID) -> PushList? {
        index.withLockedValue { $0.lists[id] }
    }

    /// The list with this list-resource id, catching up first if it is unknown here.
    public func findList(id: ListID) async throws -> PushList? {
        try await fresh({ $0.lists[id] }, orFromStore: { try await store.list(id: id) })
    }

    /// The list behind a list push token, catching up first if it is unknown here.
    public func list(pushToken: ListPushToken) async throws -> PushList? {
        try await fresh({ $0.list(pushToken: pushToken) }, orFromStore: { try await store.list(pushToken: pushToken) })
    }

    /// How many lists there are.
    public var listCount: Int { index.withLockedValue { $0.lists.count } }

    /// How many lists a creator key has.
    public func listCount(creator: VAPIDPublicKey) -> Int {
        index.withLockedValue { $0.listCount(creator: creator) }
    }

    // MARK: Writes (store, then memory, one at a time)

    /// One write: under the local lock (and on a shared store, the cluster-wide one, after
    /// catching up), `body` checks the current state and writes the store; `apply` then brings
    /// the index along once the write is durable.
    ///
    /// On a shared store, `apply` describes the state as of this write's commit. It is applied
    /// only if the feed has not yet read past the write's change-log position: a catch-up that
    /// has (it read the entity as it is now, perhaps already changed again by another instance)
    /// must not be overwritten with this older state; one that has not will re-read it later.
    private func write<T: Sendable>(_ body: () async throws -> (T, apply: @Sendable (inout RegistryIndex) -> Void)) async throws -> T {
        let started = ContinuousClock.now
        defer { PushgateMetrics.registryWrite.recordInterval(since: started) }
        return try await writes.withLock {
            guard !isFilling else { throw Filling() }
            guard let shared else {
                let (value, apply) = try await body()
                index.withLockedValue(apply)
                return value
            }
            let (result, position) = try await shared.exclusively {
                try await catchUp()
                let (value, apply) = try await body()
                return Written(value: value, apply: apply)
            }
            if let position {
                await catchUpGate.withLock {
                    if feed.withLockedValue({ $0.position < position }) { index.withLockedValue(result.apply) }
                }
            }
            return result.value
        }
    }

    private struct Written<T: Sendable>: Sendable {
        var value: T
        var apply: @Sendable (inout RegistryIndex) -> Void
    }

    /// Deletes a subscription durably (it also leaves every list); returns it, or `nil` if there
    /// was none, so of two simultaneous deletes exactly one finds it.
    public func remove(id: SubscriptionID, now: Int64) async throws -> Subscription? {
        try await write {
            guard let subscription = self.subscription(id: id) else { return (nil, apply: { _ in }) }
            try await store.markDeleted(id: id, at: now)
            return (subscription, apply: { $0.delete(subscription, at: now) })
        }
    }

    /// Stores a new subscription that `make` builds inside the critical section (so the set it
    /// joins cannot be deleted meanwhile); what `make` throws is rethrown and nothing is written.
    ///
    /// Subscribes that arrive while a write is under way are stored together, in one
    /// transaction and one durable commit, each still built and checked on its own (group
    /// commit: a durable write costs the same for one row as for a hundred).
    public func addSubscription(_ make: @escaping @Sendable (Registry) throws -> Subscription) async throws -> Subscription {
        try await withCheckedThrowingContinuation { continuation in
            let lead = subscribes.withLockedValue { queue in
                queue.pending.append(PendingSubscribe(make: make, continuation: continuation))
                defer { queue.draining = true }
                return !queue.draining
            }
            // In a task of its own: a client that goes away must not cancel the others' write.
            if lead { Task { await drainSubscribes() } }
        }
    }

    private struct PendingSubscribe: Sendable {
        let make: @Sendable (Registry) throws -> Subscription
        let continuation: CheckedContinuation<Subscription, any Error>
    }

    private let subscribes = NIOLockedValueBox<(pending: [PendingSubscribe], draining: Bool)>(([], false))

    /// Subscribes stored per transaction at most.
    static let subscribeBatch = 256

    private func drainSubscribes() async {
        while true {
            let batch = subscribes.withLockedValue { queue in
                let batch = Array(queue.pending.prefix(Self.subscribeBatch))
                queue.pending.removeFirst(batch.count)
                if batch.isEmpty { queue.draining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            let outcomes = NIOLockedValueBox<[Result<Subscription, any Error>]>([])
            do {
                _ = try await write {
                    let made = batch.map { pending in Result { try pending.make(self) } }
                    outcomes.withLockedValue { $0 = made }
                    let subscriptions = made.compactMap { try? $0.get() }
                    if !subscriptions.isEmpty { try await store.insert(batch: subscriptions) }
                    return (subscriptions.count, apply: { index in for subscription in subscriptions { index.insert(subscription) } })
                }
                for (pending, outcome) in zip(batch, outcomes.withLockedValue { $0 }) { pending.continuation.resume(with: outcome) }
            } catch {
                // The write failed: every subscribe that was built fails with it; one that
                // `make` refused keeps its own reason.
                let made = outcomes.withLockedValue { $0 }
                for (index, pending) in batch.enumerated() {
                    if index < made.count, case .failure(let refusal) = made[index] {
                        pending.continuation.resume(throwing: refusal)
                    } else {
                        pending.continuation.resume(throwing: error)
                    }
                }
            }
        }
    }

    /// Deletes a set and every subscription in it durably; returns them, or `nil` if there was
    /// no such set.
    public func removeSet(id: SetID, now: Int64) async throws -> [Subscription]? {
        try await write {
            guard self.set(id: id) != nil else { return (nil, apply: { _ in }) }
            let members = index.withLockedValue { index in (index.members(ofSet: id)?.ids ?? []).compactMap { index.subscription(id: $0) } }
            try await store.deleteSet(id: id, at: now)
            return (members, apply: { _ = $0.deleteSet(id: id, at: now) })
        }
    }

    /// Forgets subscriptions deleted before `time`: their push URLs answer 404 instead of 410
    /// from then on, and their memory is freed. (Every instance purges its own index; on a
    /// shared store the first to get there deletes the rows.)
    public func purgeDeleted(before time: Int64) async throws {
        try await writes.withLock {
            guard !isFilling else { throw Filling() }
            try await store.purgeDeleted(before: time)
            index.withLockedValue { $0.purgeDeleted(before: time) }
        }
    }

    /// How many deleted subscriptions are remembered.
    public var deletedCount: Int { index.withLockedValue { $0.deletedPushTokens.count } }

    /// Stores a new list durably, then indexes it. `make` builds it inside the critical section,
    /// so a limit it enforces (lists per key, members that must exist) cannot be passed by
    /// concurrent requests; what it throws is rethrown and nothing is written.
    @discardableResult
    public func addList(_ make: (Registry) throws -> PushList) async throws -> PushList {
        try await write {
            let list = try make(self)
            try await store.insertList(list)
            return (list, apply: { $0.insert(list) })
        }
    }

    /// Changes a list: `edit` gets the current list (inside the critical section) and returns
    /// the new one; the difference is stored, then indexed. Returns `nil` if there is no such list.
    public func updateList(id: ListID, _ edit: (PushList) throws -> PushList) async throws -> PushList? {
        try await write {
            guard let current = list(id: id) else { return (nil, apply: { _ in }) }
            let updated = try edit(current)
            let changes = current.changes(to: updated)
            if !changes.isEmpty { try await store.updateList(id: id, changes) }
            return (updated, apply: { $0.insert(updated) })
        }
    }

    /// Deletes a list durably; returns whether it existed.
    public func removeList(id: ListID) async throws -> Bool {
        try await write {
            guard list(id: id) != nil else { return (false, apply: { _ in }) }
            try await store.deleteList(id: id)
            return (true, apply: { $0.removeList(id: id) })
        }
    }
}
