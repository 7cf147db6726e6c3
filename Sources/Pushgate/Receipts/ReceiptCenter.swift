public import Foundation
public import Logging
import NIOConcurrencyHelpers
public import ServiceLifecycle
public import WebPush

/// Delivery receipts (RFC 8030 §5.1, §6.3): receipt subscriptions, the pushes waiting for one,
/// and the receipts waiting for their application server.
///
/// Every change is durable before it is visible (``ReceiptStore``), and changes are serialized, so
/// a receipt is never promised twice nor lost across a restart. The acknowledgement of a message
/// (MQTT, or `DELETE /m/<id>`) reaches ``acknowledged(_:)`` through ``MQTTDelivery``; expiry is
/// checked once a second by ``run()``. Receipts go to every stream open on their subscription and
/// are forgotten once one has written them.
///
/// On a ``SharedReceiptStore`` (several instances) the store is the truth and this instance keeps
/// only its streams and a cache of receipt subscriptions: requests, outcomes and waiting
/// receipts are rows, every outcome is claimed by one statement, and its notification brings it
/// to whichever instance has the stream open (``run()`` follows them).
public final class ReceiptCenter: Service, Sendable {
    /// Why a receipt operation was refused.
    public enum Refusal: Error, Equatable {
        /// The creator key has this many receipt subscriptions.
        case tooManySubscriptions(Int)
        /// The receipt subscription has this many receipts outstanding.
        case tooManyPending(Int)
        /// No such receipt subscription.
        case unknownSubscription
    }

    private struct State {
        var subscriptions: [ReceiptSubscriptionID: ReceiptSubscription] = [:]
        var subscriptionsByKey: [VAPIDPublicKey: Int] = [:]
        var requests: [MessageID: ReceiptRequest] = [:]
        /// Requests and undelivered receipts per subscription (the pending bound).
        var pending: [ReceiptSubscriptionID: Int] = [:]
        var undelivered: [ReceiptSubscriptionID: [Receipt]] = [:]
        var listeners: [ReceiptSubscriptionID: [UUID: AsyncStream<Receipt>.Continuation]] = [:]
        /// Shared store: receipts handed to this instance's streams and not yet written, so a
        /// later notification does not hand them out again.
        var inFlight: [ReceiptSubscriptionID: Set<Receipt>] = [:]
    }

    private let store: any ReceiptStore
    private let shared: (any SharedReceiptStore)?
    private let state = NIOLockedValueBox(State())
    private let writes = AsyncMutex()
    private let limits: ReceiptsConfig
    private let clock: @Sendable () -> Int64
    private let logger: Logger

    private init(store: any ReceiptStore, limits: ReceiptsConfig, clock: @escaping @Sendable () -> Int64, logger: Logger) {
        self.store = store
        self.shared = store as? any SharedReceiptStore
        self.limits = limits
        self.clock = clock
        self.logger = logger
    }

    /// Loads everything from `store`.
    public static func load(from store: any ReceiptStore, limits: ReceiptsConfig = ReceiptsConfig(),
                            clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
                            logger: Logger = Logger(label: "pushgate.receipts")) async throws -> ReceiptCenter {
        let center = ReceiptCenter(store: store, limits: limits, clock: clock, logger: logger)
        // Shared: nothing to load; the store is asked as things happen.
        if center.shared != nil { return center }
        let (subscriptions, requests, receipts) = try await store.loadReceipts()
        center.state.withLockedValue { state in
            for subscription in subscriptions {
                state.subscriptions[subscription.id] = subscription
                state.subscriptionsByKey[subscription.creatorKey, default: 0] += 1
            }
            for request in requests {
                state.requests[request.message] = request
                state.pending[request.subscription, default: 0] += 1
            }
            for receipt in receipts.sorted(by: { $0.at < $1.at }) {
                state.undelivered[receipt.subscription, default: []].append(receipt)
                state.pending[receipt.subscription, default: 0] += 1
            }
        }
        return center
    }

    // MARK: Subscriptions

    /// The receipt subscription with this id (on a shared store: from the store when this
    /// instance has not seen it).
    public func subscription(id: ReceiptSubscriptionID) async throws -> ReceiptSubscription? {
        if let known = state.withLockedValue({ $0.subscriptions[id] }) { return known }
        guard let shared, let found = try await shared.receiptSubscription(id: id) else { return nil }
        state.withLockedValue { $0.subscriptions[id] = found }
        return found
    }

    /// Creates a receipt subscription for `creator`, within `receipts.max_subscriptions_per_key`.
    public func create(creator: VAPIDPublicKey) async throws -> ReceiptSubscription {
        if let shared {
            let subscription = ReceiptSubscription(id: .random(), creatorKey: creator, createdAt: clock())
            guard try await shared.insert(subscription, limit: limits.maxSubscriptionsPerKey) else {
                throw Refusal.tooManySubscriptions(limits.maxSubscriptionsPerKey)
            }
            state.withLockedValue { $0.subscriptions[subscription.id] = subscription }
            return subscription
        }
        return try await writes.withLock {
            let count = state.withLockedValue { $0.subscriptionsByKey[creator] ?? 0 }
            guard count < limits.maxSubscriptionsPerKey else { throw Refusal.tooManySubscriptions(limits.maxSubscriptionsPerKey) }
            let subscription = ReceiptSubscription(id: .random(), creatorKey: creator, createdAt: clock())
            try await store.insert(subscription)
            state.withLockedValue { state in
                state.subscriptions[subscription.id] = subscription
                state.subscriptionsByKey[creator, default: 0] += 1
            }
            return subscription
        }
    }

    /// Deletes a receipt subscription (RFC 8030 §7.3, P-62): its waiting receipts are dropped and
    /// its open streams end. Returns whether it existed.
    public func delete(id: ReceiptSubscriptionID) async throws -> Bool {
        if shared != nil {
            guard try await subscription(id: id) != nil else { return false }
            // Every instance hears of it, this one too, and ends its streams (``run()``).
            try await store.deleteReceiptSubscription(id: id)
            forgetLocally(id)
            return true
        }
        return try await writes.withLock {
            guard let subscription = state.withLockedValue({ $0.subscriptions[id] }) else { return false }
            try await store.deleteReceiptSubscription(id: id)
            let listeners = state.withLockedValue { state in
                state.subscriptions[id] = nil
                state.subscriptionsByKey[subscription.creatorKey]? -= 1
                state.requests = state.requests.filter { $0.value.subscription != id }
                state.pending[id] = nil
                state.undelivered[id] = nil
                return state.listeners.removeValue(forKey: id)?.values.map { $0 } ?? []
            }
            for listener in listeners { listener.finish() }
            return true
        }
    }

    // MARK: Requests

    /// Records that `messages` want receipts on `subscription`, durably, before they are sent.
    public func track(_ messages: [MessageID], on subscription: ReceiptSubscriptionID, expiresAt: Int64) async throws {
        if let shared {
            let requests = messages.map { ReceiptRequest(message: $0, subscription: subscription, expiresAt: expiresAt) }
            switch try await shared.track(requests, limit: limits.maxPendingPerSubscription) {
            case .tracked: return
            case .unknownSubscription: throw Refusal.unknownSubscription
            case .full: throw Refusal.tooManyPending(limits.maxPendingPerSubscription)
            }
        }
        try await writes.withLock {
            let pending = try state.withLockedValue { state throws(Refusal) -> Int in
                guard state.subscriptions[subscription] != nil else { throw .unknownSubscription }
                return state.pending[subscription] ?? 0
            }
            guard pending + messages.count <= limits.maxPendingPerSubscription else { throw Refusal.tooManyPending(limits.maxPendingPerSubscription) }
            let requests = messages.map { ReceiptRequest(message: $0, subscription: subscription, expiresAt: expiresAt) }
            try await store.insert(requests)
            state.withLockedValue { state in
                for request in requests { state.requests[request.message] = request }
                state.pending[subscription, default: 0] += requests.count
            }
        }
    }

    /// Forgets requests whose messages were not sent after all.
    public func untrack(_ messages: [MessageID]) async {
        await writes.withLock {
            do {
                try await store.removeRequests(messages)
            } catch {
                logger.error("receipts: could not forget unsent requests", metadata: ["error": "\(error)"])
            }
            state.withLockedValue { state in
                for message in messages {
                    guard let request = state.requests.removeValue(forKey: message) else { continue }
                    state.pending[request.subscription]? -= 1
                }
            }
        }
    }

    // MARK: Outcomes

    /// The device acknowledged `message`: its receipt is 204. Returns whether a receipt was
    /// requested for it.
    public func acknowledged(_ message: MessageID) async -> Bool {
        if let shared {
            do {
                return try await shared.resolveAcknowledged(message, at: clock()) != nil
            } catch {
                logger.error("receipts: could not record a receipt", metadata: ["error": "\(error)"])
                return false
            }
        }
        guard let request = state.withLockedValue({ $0.requests[message] }) else { return false }
        return await resolve([Receipt(subscription: request.subscription, message: message, status: .acknowledged, at: clock())])
    }

    /// Requests whose messages expired unacknowledged get a 410 receipt (P-60).
    public func expireDue() async {
        let now = clock()
        if let shared {
            do {
                _ = try await shared.resolveExpired(now: now)
            } catch {
                logger.error("receipts: could not expire requests", metadata: ["error": "\(error)"])
            }
            return
        }
        let expired = state.withLockedValue { state in
            state.requests.values.filter { $0.expiresAt <= now }
        }
        guard !expired.isEmpty else { return }
        _ = await resolve(expired.map { Receipt(subscription: $0.subscription, message: $0.message, status: .expired, at: now) })
    }

    /// Turns requests into receipts durably and hands them to the open streams.
    private func resolve(_ receipts: [Receipt]) async -> Bool {
        await writes.withLock {
            // Only requests still outstanding (an acknowledgement may race the expiry).
            let current = state.withLockedValue { state in receipts.filter { state.requests[$0.message] != nil } }
            guard !current.isEmpty else { return false }
            do {
                try await store.resolve(current)
            } catch {
                logger.error("receipts: could not record receipts", metadata: ["error": "\(error)"])
                return false
            }
            let deliveries = state.withLockedValue { state in
                current.map { receipt in
                    state.requests[receipt.message] = nil
                    state.undelivered[receipt.subscription, default: []].append(receipt)
                    return (receipt, Array((state.listeners[receipt.subscription] ?? [:]).values))
                }
            }
            for (receipt, listeners) in deliveries { for listener in listeners { listener.yield(receipt) } }
            return true
        }
    }

    // MARK: Streams

    /// The receipts of `subscription`: those waiting first, then each as it comes, until the
    /// subscription is deleted or the stream is dropped. `nil` for an unknown subscription.
    public func receipts(of subscription: ReceiptSubscriptionID) async throws -> AsyncStream<Receipt>? {
        guard try await self.subscription(id: subscription) != nil else { return nil }
        let (stream, continuation) = AsyncStream.makeStream(of: Receipt.self, bufferingPolicy: .bufferingNewest(limits.maxPendingPerSubscription))
        let listener = UUID()
        let known = state.withLockedValue { state -> Bool in
            guard state.subscriptions[subscription] != nil else { return false }
            if shared == nil { for receipt in state.undelivered[subscription] ?? [] { continuation.yield(receipt) } }
            state.listeners[subscription, default: [:]][listener] = continuation
            return true
        }
        guard known else { return nil }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLockedValue { state in
                _ = state.listeners[subscription]?.removeValue(forKey: listener)
                // The last stream gone: what it had not written may go to the next one.
                if state.listeners[subscription]?.isEmpty ?? true { state.inFlight[subscription] = nil }
            }
        }
        if shared != nil { await refresh(subscription) }
        return stream
    }

    /// Shared store: hands this instance's streams of `subscription` the receipts waiting in
    /// the store that they have not been handed yet; ends them if the subscription is gone.
    private func refresh(_ subscription: ReceiptSubscriptionID) async {
        guard let shared, state.withLockedValue({ !($0.listeners[subscription] ?? [:]).isEmpty }) else { return }
        do {
            guard try await shared.receiptSubscription(id: subscription) != nil else {
                forgetLocally(subscription)
                return
            }
            let waiting = try await shared.undeliveredReceipts(of: subscription)
            let deliveries = state.withLockedValue { state in
                let fresh = waiting.filter { !(state.inFlight[subscription]?.contains($0) ?? false) }
                state.inFlight[subscription, default: []].formUnion(fresh)
                return (fresh, Array((state.listeners[subscription] ?? [:]).values))
            }
            for receipt in deliveries.0 { for listener in deliveries.1 { listener.yield(receipt) } }
        } catch {
            logger.error("receipts: could not read waiting receipts", metadata: ["error": "\(error)"])
        }
    }

    /// Forgets a deleted receipt subscription here and ends its streams.
    private func forgetLocally(_ id: ReceiptSubscriptionID) {
        let listeners = state.withLockedValue { state in
            if let subscription = state.subscriptions.removeValue(forKey: id) { state.subscriptionsByKey[subscription.creatorKey]? -= 1 }
            state.requests = state.requests.filter { $0.value.subscription != id }
            state.pending[id] = nil
            state.undelivered[id] = nil
            state.inFlight[id] = nil
            return state.listeners.removeValue(forKey: id)?.values.map { $0 } ?? []
        }
        for listener in listeners { listener.finish() }
    }

    /// A stream wrote `receipt` to its application server: it is forgotten.
    public func delivered(_ receipt: Receipt) async {
        if shared != nil {
            do {
                try await store.removeReceipts([receipt])
            } catch {
                logger.error("receipts: could not forget a delivered receipt", metadata: ["error": "\(error)"])
            }
            state.withLockedValue { _ = $0.inFlight[receipt.subscription]?.remove(receipt) }
            return
        }
        await writes.withLock {
            let waiting = state.withLockedValue { state in state.undelivered[receipt.subscription]?.contains(receipt) ?? false }
            guard waiting else { return }
            do {
                try await store.removeReceipts([receipt])
            } catch {
                logger.error("receipts: could not forget a delivered receipt", metadata: ["error": "\(error)"])
                return
            }
            state.withLockedValue { state in
                state.undelivered[receipt.subscription]?.removeAll { $0 == receipt }
                state.pending[receipt.subscription]? -= 1
            }
        }
    }

    /// Checks expiry once a second until shutdown; on a shared store also follows the
    /// notifications of new receipts and deletions (and re-reads every open stream's
    /// subscription each second, in case one was lost).
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            if let shared {
                let signals = shared.receiptSignals()
                group.addTask {
                    await cancelWhenGracefulShutdown {
                        for await subscription in signals { await self.refresh(subscription) }
                    }
                }
            }
            group.addTask {
                while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .seconds(1)) })) != nil {
                    await self.expireDue()
                    if self.shared != nil {
                        for subscription in self.state.withLockedValue({ Array($0.listeners.keys) }) { await self.refresh(subscription) }
                    }
                }
            }
        }
    }
}

extension ReceiptCenter: AcknowledgementObserver {}
