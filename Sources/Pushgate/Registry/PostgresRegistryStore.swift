import Crypto
public import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import PostgresNIO
import WebPush

/// The registry in a PostgreSQL database that every Pushgate instance shares (vapor/postgres-nio).
///
/// Registry writes (subscriptions, sets, lists) take one cluster-wide advisory lock for the
/// length of their transaction and append the ids they touched to `registry_changes`, then
/// `NOTIFY pushgate_registry`; the lock makes the change log's order the commit order, so an
/// instance that applies it from its last position misses nothing (``SharedRegistryStore``).
/// Held messages and receipts are rows like any other and need no lock.
///
/// The schema is versioned (`pushgate_schema`); ``open(_:logger:)`` migrates under an advisory
/// lock, so instances that start together migrate once and the others wait, and refuses a
/// database written by a newer Pushgate.
public final class PostgresRegistryStore: SharedRegistryStore {
    /// The schema version this build writes.
    public static let schemaVersion = 1
    /// The channel of change notifications.
    static let channel = "pushgate_registry"
    /// Advisory lock keys (arbitrary, fixed): registry writes, and migrations.
    private static let registryLock: Int64 = 0x7075_7368_6761_7465  // "pushgate"
    private static let migrationLock: Int64 = 0x7075_7368_6d69_6772  // "pushmigr"
    /// How long change-log rows are kept; an instance away longer reloads everything.
    public static let changeRetentionSeconds: Int64 = 86_400

    private let client: PostgresClient
    private let runner: Task<Void, Never>
    let logger: Logger
    /// Other instances' registry changes, to ``changeSignals()``.
    private let signals = Broadcaster<Void>()
    /// Whether the change listener's connection is up: while it is down, operations fail at once
    /// instead of waiting for a pool connection that cannot be made (postgres-nio's pool waits
    /// for ever), so a client gets its 503 promptly.
    private let listening = NIOLockedValueBox(true)
    /// Receipt subscriptions with news, to ``receiptSignals()``.
    private let receiptListeners = Broadcaster<ReceiptSubscriptionID>()
    private let listeners = NIOLockedValueBox<[Task<Void, Never>]>([])
    /// Where the database is (no password), for messages.
    public let location: PostgresLocation

    /// The connection of the transaction ``exclusively(_:)`` opened, in the task running it.
    @TaskLocal private static var transaction: (store: ObjectIdentifier, connection: PostgresConnection)?

    /// The database was written by a newer Pushgate.
    public struct NewerSchema: Error, CustomStringConvertible {
        /// The database's version.
        public let found: Int
        public var description: String {
            "the PostgreSQL registry has schema version \(found), newer than this Pushgate's \(PostgresRegistryStore.schemaVersion): run the newer version on every instance"
        }
    }

    /// The database could not be reached or refused the login.
    public struct Unreachable: Error, CustomStringConvertible {
        /// The database, without password.
        public let location: PostgresLocation
        /// What went wrong.
        public let reason: String
        public var description: String { "cannot use the PostgreSQL registry at \(location): \(reason)" }
    }

    private init(client: PostgresClient, location: PostgresLocation, logger: Logger) {
        self.client = client
        self.location = location
        self.logger = logger
        self.runner = Task { await client.run() }
    }

    /// Connects to the database at `location`, migrates its schema, and starts listening for
    /// other instances' changes.
    ///
    /// - Throws: ``Unreachable`` when the database cannot be reached within 3 seconds or refuses
    ///   the login, ``NewerSchema`` for a database written by a newer Pushgate.
    public static func open(_ location: PostgresLocation, logger: Logger = Logger(label: "pushgate.store")) async throws -> PostgresRegistryStore {
        var configuration = PostgresClient.Configuration(host: location.host, port: location.port, username: location.username,
                                                         password: location.password, database: location.database, tls: .disable)
        switch location.tls {
        case .disable: configuration.tls = .disable
        case .prefer: configuration.tls = .prefer(.makeClientConfiguration())
        case .require: configuration.tls = .require(.makeClientConfiguration())
        }
        configuration.options.maximumConnections = location.poolSize
        configuration.options.connectTimeout = .seconds(3)
        // One connection first: the pool retries a refused or failed login for ever, quietly;
        // a start-up must fail at once with the reason instead.
        do {
            try await probe(location, tls: configuration.tls, logger: logger)
        } catch {
            throw Unreachable(location: location, reason: Self.describe(error))
        }
        // The pool reports every failed reconnect at info; the store's callers report what fails.
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .error)
        let store = PostgresRegistryStore(client: PostgresClient(configuration: configuration, backgroundLogger: poolLogger), location: location,
                                          logger: logger)
        do {
            try await withTimeout(.seconds(30), "migrating the PostgreSQL schema") { try await store.migrate() }
        } catch {
            store.runner.cancel()
            if let newer = Self.unwrap(error) as? NewerSchema { throw newer }
            throw Unreachable(location: location, reason: Self.describe(error))
        }
        store.listeners.withLockedValue {
            $0 = [Task { await store.listen(on: Self.channel, tracksReachability: true) { _ in store.signal() } },
                  Task { await store.listen(on: Self.receiptChannel, tracksReachability: false) { payload in store.signalReceipts(payload) } }]
        }
        return store
    }

    /// Connects once and disconnects, within the connect timeout.
    private static func probe(_ location: PostgresLocation, tls: PostgresClient.Configuration.TLS, logger: Logger) async throws {
        let connectionTLS: PostgresConnection.Configuration.TLS = switch location.tls {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.username,
                                                             password: location.password, database: location.database, tls: connectionTLS)
        configuration.options.connectTimeout = .seconds(3)
        var quiet = logger
        quiet.logLevel = .critical
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: quiet)
        try await connection.close()
    }

    /// The error inside a transaction error.
    static func unwrap(_ error: any Error) -> any Error {
        if let error = error as? PostgresTransactionError {
            return error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError ?? error
        }
        return error
    }

    /// PSQLError hides the server's message from `description` (it may hold data); the message
    /// and SQLSTATE are safe and are what an operator needs.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            if let underlying = error.underlying { return "\(underlying)" }
            return "\(error.code)"
        }
        if error is PostgresTransactionError { return describe(unwrap(error)) }
        return "\(error)"
    }

    // MARK: Transactions

    /// Runs `body` in a transaction: the one ``exclusively(_:)`` holds in this task, if any,
    /// otherwise a new one — which first takes the registry lock if `registry` is set.
    func inTransaction<T: Sendable>(registry: Bool, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        if let current = Self.transaction, current.store == ObjectIdentifier(self) {
            return try await body(current.connection)
        }
        try checkReachable()
        do {
            return try await client.withTransaction(logger: logger) { connection in
                if registry { try await connection.query("SELECT pg_advisory_xact_lock(\(Self.registryLock))", logger: logger) }
                return try await body(connection)
            }
        } catch {
            throw Self.failure(error)
        }
    }

    public func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> (value: T, position: Int64?) {
        try checkReachable()
        let written = WrittenPosition()
        do {
            let value = try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.registryLock))", logger: logger)
                return try await Self.$transaction.withValue((ObjectIdentifier(self), connection)) {
                    try await Self.$written.withValue(written) { try await body() }
                }
            }
            return (value, written.newest)
        } catch {
            throw Self.failure(error)
        }
    }

    /// Whether the database answers (its listener connection is up).
    public var isReachable: Bool { listening.withLockedValue { $0 } }

    private func checkReachable() throws {
        guard isReachable else { throw Failure(reason: "the database is unreachable (its connection was lost; reconnecting every second)") }
    }

    /// What a failed transaction throws: the body's own error as it was (a refusal such as
    /// "too many lists" must reach the API unchanged); a database error as a ``Failure``, whose
    /// description carries the server's message but never the query's bound values (push
    /// tokens are capabilities and must not reach a log).
    private static func failure(_ error: any Error) -> any Error {
        let inner = unwrap(error)
        if inner is PSQLError || inner is PostgresTransactionError { return Failure(reason: describe(inner)) }
        return inner
    }

    /// A database operation failed.
    public struct Failure: Error, CustomStringConvertible {
        /// The server's message and SQLSTATE, or the connection error.
        public let reason: String
        public var description: String { "PostgreSQL: \(reason)" }
    }

    /// The newest change-log position a transaction of ``exclusively(_:)`` wrote.
    private final class WrittenPosition: @unchecked Sendable {
        // Only touched by the one task running the transaction.
        var newest: Int64?
    }

    @TaskLocal private static var written: WrittenPosition?

    /// Records that entities changed (kind 1: subscription, 2: set, 3: list) and notifies the
    /// other instances when the transaction commits: one statement.
    private func recordChanges(_ connection: PostgresConnection, kind: Int16, ids: [String]) async throws {
        guard !ids.isEmpty else { return }
        try await record(connection, """
            WITH c AS (INSERT INTO registry_changes (kind, entity, at)
                       SELECT \(kind), unnest(\(ids)::text[]), extract(epoch from now())::bigint RETURNING seq)
            SELECT max(seq) FROM c, pg_notify(\(Self.channel), '') AS notified
            """)
    }

    /// Records the subscriptions a condition selects as changed.
    private func recordSubscriptionChanges(_ connection: PostgresConnection, _ condition: PostgresQuery) async throws {
        var query = PostgresQuery(unsafeSQL: """
            WITH c AS (INSERT INTO registry_changes (kind, entity, at)
                       SELECT 1, id, extract(epoch from now())::bigint FROM subscriptions WHERE \(condition.sql) RETURNING seq)
            SELECT max(seq) FROM c, pg_notify('\(Self.channel)', '') AS notified
            """)
        query.binds = condition.binds
        try await record(connection, query)
    }

    private func record(_ connection: PostgresConnection, _ query: PostgresQuery) async throws {
        for try await seq in try await connection.query(query, logger: logger).decode(Int64?.self) {
            if let seq, let written = Self.written { written.newest = max(written.newest ?? seq, seq) }
        }
    }

    // MARK: Schema

    /// Each version's statements, applied in order in one transaction.
    static let migrations: [[String]] = [
        // Version 1: everything the SQLite schema 5 has, plus the change log.
        [
            "CREATE TABLE sets (id TEXT PRIMARY KEY, topic_id TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL, deleted_at BIGINT)",
            """
            CREATE TABLE subscriptions (
                id TEXT PRIMARY KEY, push_token TEXT NOT NULL UNIQUE, topic_id TEXT NOT NULL UNIQUE, restriction_key BYTEA,
                created_at BIGINT NOT NULL, deleted_at BIGINT, set_id TEXT REFERENCES sets(id))
            """,
            "CREATE INDEX subscriptions_by_set ON subscriptions(set_id)",
            "CREATE INDEX subscriptions_by_deletion ON subscriptions(deleted_at) WHERE deleted_at IS NOT NULL",
            "CREATE TABLE lists (id TEXT PRIMARY KEY, push_token TEXT NOT NULL UNIQUE, creator_key BYTEA NOT NULL, created_at BIGINT NOT NULL)",
            """
            CREATE TABLE list_members (
                list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE, member_token TEXT NOT NULL,
                expires_at BIGINT, encrypted_key TEXT, PRIMARY KEY (list_id, member_token))
            """,
            "CREATE INDEX list_members_by_member ON list_members(member_token)",
            "CREATE TABLE secrets (name TEXT PRIMARY KEY, value BYTEA NOT NULL)",
            """
            CREATE TABLE held_messages (
                id TEXT PRIMARY KEY, topic_id TEXT NOT NULL, set_topic_id TEXT, slot TEXT NOT NULL, urgency TEXT NOT NULL,
                content_encoding TEXT, encrypted_key TEXT, accepted_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
                body BYTEA NOT NULL, next_attempt BIGINT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, UNIQUE (topic_id, slot))
            """,
            "CREATE INDEX held_messages_by_next_attempt ON held_messages(next_attempt)",
            "CREATE INDEX held_messages_by_set ON held_messages(set_topic_id) WHERE set_topic_id IS NOT NULL",
            "CREATE TABLE receipt_subscriptions (id TEXT PRIMARY KEY, creator_key BYTEA NOT NULL, created_at BIGINT NOT NULL)",
            "CREATE TABLE receipt_requests (message_id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL, expires_at BIGINT NOT NULL)",
            """
            CREATE TABLE receipts (subscription_id TEXT NOT NULL, message_id TEXT NOT NULL, status INTEGER NOT NULL,
                at BIGINT NOT NULL, PRIMARY KEY (subscription_id, message_id))
            """,
            "CREATE TABLE registry_changes (seq BIGSERIAL PRIMARY KEY, kind SMALLINT NOT NULL, entity TEXT NOT NULL, at BIGINT NOT NULL)",
        ],
    ]

    private func migrate() async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS pushgate_schema (version INTEGER NOT NULL)", logger: logger)
            var version = 0
            for try await found in try await connection.query("SELECT version FROM pushgate_schema", logger: logger).decode(Int.self) {
                version = max(version, found)
            }
            guard version <= Self.schemaVersion else { throw NewerSchema(found: version) }
            guard version < Self.schemaVersion else { return }
            for step in Self.migrations[version...] {
                for statement in step { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            }
            try await connection.query("DELETE FROM pushgate_schema", logger: logger)
            try await connection.query("INSERT INTO pushgate_schema (version) VALUES (\(Self.schemaVersion))", logger: logger)
            logger.info("registry: PostgreSQL schema migrated", metadata: ["from": "\(version)", "to": "\(Self.schemaVersion)"])
        }
    }

    // MARK: Load

    public func load() async throws -> RegistrySnapshot {
        try await inTransaction(registry: false) { connection in try await self.load(connection) }
    }

    private func load(_ connection: PostgresConnection) async throws -> RegistrySnapshot {
        var sets: [SetID: SubscriptionSet] = [:]
        var snapshot = RegistrySnapshot()
        for try await (id, topicID, createdAt, deletedAt) in try await connection.query(
            "SELECT id, topic_id, created_at, deleted_at FROM sets", logger: logger).decode((String, String, Int64, Int64?).self) {
            let set = SubscriptionSet(id: SetID(trusted: id), topicID: TopicID(trusted: topicID), createdAt: createdAt)
            sets[set.id] = set
            if deletedAt == nil { snapshot.sets.append(set) }
        }
        let keys = StoredKeys()
        for try await row in try await connection.query(PostgresQuery(unsafeSQL: Self.subscriptionColumns + " FROM subscriptions"), logger: logger).decode(SubscriptionRow.self) {
            switch Self.state(row, sets: sets, keys: keys) {
            case .live(let subscription): snapshot.subscriptions.append(subscription)
            case .deleted(let token, let time): snapshot.deletedPushTokens[token] = time
            case nil: continue
            }
        }
        snapshot.lists = try await lists(connection, "SELECT id, push_token, creator_key, created_at FROM lists", nil)
        return snapshot
    }

    private typealias SubscriptionRow = (String, String, String, ByteBuffer?, Int64, Int64?, String?)
    private static let subscriptionColumns = "SELECT id, push_token, topic_id, restriction_key, created_at, deleted_at, set_id"

    /// A row's state; `nil` for a live subscription whose restriction key does not parse (see
    /// ``StoredKeys``: loaded without it, it would take pushes without VAPID).
    private static func state(_ row: SubscriptionRow, sets: [SetID: SubscriptionSet], keys: StoredKeys) -> RegistryChanges.SubscriptionState? {
        let (id, pushToken, topicID, key, createdAt, deletedAt, setID) = row
        if let deletedAt { return .deleted(PushToken(trusted: pushToken), at: deletedAt) }
        let restrictionKey = key.flatMap(keys.key)
        guard (key == nil) == (restrictionKey == nil) else { return nil }
        return .live(Subscription(id: SubscriptionID(trusted: id), pushToken: PushToken(trusted: pushToken), topicID: TopicID(trusted: topicID),
                                  restrictionKey: restrictionKey,
                                  createdAt: createdAt, set: setID.flatMap { sets[SetID(trusted: $0)] }))
    }

    /// Lists a query selects (id, push_token, creator_key, created_at), with their members.
    private func lists(_ connection: PostgresConnection, _ sql: String, _ ids: [String]?) async throws -> [PushList] {
        var query = PostgresQuery(unsafeSQL: sql)
        if let ids { query.binds.append(ids) }
        var lists: [ListID: PushList] = [:]
        for try await (id, pushToken, key, createdAt) in try await connection.query(query, logger: logger).decode((String, String, ByteBuffer, Int64).self) {
            guard let creator = try? VAPIDPublicKey(rawBytes: key.readableBytesView) else { continue }
            let listID = ListID(trusted: id)
            lists[listID] = PushList(id: listID, pushToken: ListPushToken(trusted: pushToken), creatorKey: creator, members: [:], createdAt: createdAt)
        }
        guard !lists.isEmpty else { return [] }
        var members = PostgresQuery(unsafeSQL: "SELECT list_id, member_token, expires_at, encrypted_key FROM list_members")
        if let ids {
            members.sql += " WHERE list_id = ANY($1::text[])"
            members.binds.append(ids)
        }
        for try await (listID, token, expires, encryptedKey) in try await connection.query(members, logger: logger).decode((String, String, Int64?, String?).self) {
            lists[ListID(trusted: listID)]?.members[PushToken(trusted: token)] = PushList.Member(expires: expires, encryptedKey: encryptedKey)
        }
        return Array(lists.values)
    }

    // MARK: Reads while the registry fills

    /// Keys of the rows read through while the registry fills: a few application servers'.
    private let readKeys = StoredKeys()

    /// Live and deleted subscriptions by push token, with their sets.
    private func subscriptions(pushTokens tokens: [String]) async throws -> [RegistryChanges.SubscriptionState] {
        try await inTransaction(registry: false) { connection in
            var sets: [SetID: SubscriptionSet] = [:]
            for try await (id, topicID, createdAt) in try await connection.query("""
                SELECT id, topic_id, created_at FROM sets WHERE id IN (SELECT set_id FROM subscriptions WHERE push_token = ANY(\(tokens)::text[]))
                """, logger: self.logger).decode((String, String, Int64).self) {
                sets[SetID(trusted: id)] = SubscriptionSet(id: SetID(trusted: id), topicID: TopicID(trusted: topicID), createdAt: createdAt)
            }
            var found: [RegistryChanges.SubscriptionState] = []
            for try await row in try await connection.query(
                "\(unescaped: Self.subscriptionColumns) FROM subscriptions WHERE push_token = ANY(\(tokens)::text[])",
                logger: self.logger).decode(SubscriptionRow.self) {
                if let state = Self.state(row, sets: sets, keys: self.readKeys) { found.append(state) }
            }
            return found
        }
    }

    public func lookup(pushToken: PushToken) async throws -> Registry.Lookup {
        Registry.Lookup(try await subscriptions(pushTokens: [pushToken.rawValue]).first)
    }

    public func subscriptions(pushTokens: [PushToken]) async throws -> [Subscription] {
        try await subscriptions(pushTokens: pushTokens.map(\.rawValue)).compactMap(\.live)
    }

    public func list(id: ListID) async throws -> PushList? {
        try await inTransaction(registry: false) { connection in
            try await self.lists(connection, "SELECT id, push_token, creator_key, created_at FROM lists WHERE id = ANY($1::text[])", [id.rawValue]).first
        }
    }

    public func list(pushToken: ListPushToken) async throws -> PushList? {
        try await inTransaction(registry: false) { connection in
            var ids: [String] = []
            for try await id in try await connection.query("SELECT id FROM lists WHERE push_token = \(pushToken.rawValue)", logger: self.logger).decode(String.self) {
                ids.append(id)
            }
            guard !ids.isEmpty else { return nil }
            return try await self.lists(connection, "SELECT id, push_token, creator_key, created_at FROM lists WHERE id = ANY($1::text[])", ids).first
        }
    }

    // MARK: Change feed

    public func changePosition() async throws -> Int64 {
        try await inTransaction(registry: false) { connection in
            var newest: Int64 = 0
            for try await seq in try await connection.query("SELECT coalesce(max(seq), 0) FROM registry_changes", logger: logger).decode(Int64.self) {
                newest = seq
            }
            return newest
        }
    }

    /// Changes read per query; a catch-up reads on until it has them all.
    static let changesPerRead = 10_000

    public func changes(after position: Int64) async throws -> RegistryChanges {
        try await inTransaction(registry: false) { connection in
            var changes = RegistryChanges(position: position)
            var subscriptions = Set<String>(), sets = Set<String>(), lists = Set<String>()
            var firstSeq: Int64?
            for try await (seq, kind, entity) in try await connection.query("""
                SELECT seq, kind, entity FROM registry_changes WHERE seq > \(position) ORDER BY seq LIMIT \(Self.changesPerRead)
                """, logger: logger).decode((Int64, Int16, String).self) {
                if firstSeq == nil { firstSeq = seq }
                changes.position = seq
                switch kind {
                case 1: subscriptions.insert(entity)
                case 2: sets.insert(entity)
                default: lists.insert(entity)
                }
            }
            guard changes.position > position else { return changes }
            // Sequence numbers skip (rolled-back transactions), so a hole after `position` is
            // normal; only pruning past it (an instance away longer than the log is kept) is a gap.
            if let first = firstSeq, first > position + 1 {
                for try await oldest in try await connection.query("SELECT min(seq) FROM registry_changes", logger: logger).decode(Int64?.self) {
                    if let oldest, oldest > position + 1, position > 0 || oldest > 1 { changes.gap = true }
                }
                if changes.gap { return changes }
            }
            var setRecords: [SetID: SubscriptionSet] = [:]
            // Sets of the touched subscriptions too: a live subscription carries its set.
            if !sets.isEmpty || !subscriptions.isEmpty {
            for try await (id, topicID, createdAt, deletedAt) in try await connection.query("""
                SELECT id, topic_id, created_at, deleted_at FROM sets
                WHERE id = ANY(\(Array(sets))::text[]) OR id IN (SELECT set_id FROM subscriptions WHERE id = ANY(\(Array(subscriptions))::text[]))
                """, logger: logger).decode((String, String, Int64, Int64?).self) {
                let set = SubscriptionSet(id: SetID(trusted: id), topicID: TopicID(trusted: topicID), createdAt: createdAt)
                setRecords[set.id] = set
                if sets.contains(id) {
                    if deletedAt == nil { changes.sets.append(set) } else { changes.removedSets.append(set.id) }
                }
            }
            }
            for id in sets where setRecords[SetID(trusted: id)] == nil { changes.removedSets.append(SetID(trusted: id)) }
            if !subscriptions.isEmpty {
                let keys = StoredKeys()
                for try await row in try await connection.query(
                    "\(unescaped: Self.subscriptionColumns) FROM subscriptions WHERE id = ANY(\(Array(subscriptions))::text[])",
                    logger: logger).decode(SubscriptionRow.self) {
                    if let state = Self.state(row, sets: setRecords, keys: keys) { changes.subscriptions.append(state) }
                }
            }
            let found = lists.isEmpty ? []
                : try await self.lists(connection, "SELECT id, push_token, creator_key, created_at FROM lists WHERE id = ANY($1::text[])", Array(lists))
            changes.lists = found
            let foundIDs = Set(found.map(\.id.rawValue))
            changes.removedLists = lists.subtracting(foundIDs).map(ListID.init(trusted:))
            return changes
        }
    }

    public func changeSignals() -> AsyncStream<Void> {
        signals.subscribe(bufferingNewest: 1)
    }

    private func signal() {
        signals.yield(())
    }

    public func receiptSignals() -> AsyncStream<ReceiptSubscriptionID> {
        receiptListeners.subscribe(bufferingNewest: 10_000)
    }

    /// A notification on the receipt channel: its payload is a receipt subscription id. A
    /// reconnect (no payload) names none; the streams' once-a-second re-read covers what it missed.
    private func signalReceipts(_ payload: String?) {
        guard let payload, let id = ReceiptSubscriptionID(payload) else { return }
        receiptListeners.yield(id)
    }

    /// Holds one connection LISTENing on `channel`; after any failure, reconnects and calls
    /// `handle(nil)` once (notifications sent meanwhile were lost; what they announced is in the
    /// tables).
    private func listen(on channel: String, tracksReachability: Bool, _ handle: @escaping @Sendable (String?) -> Void) async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: channel) { notifications in
                        if tracksReachability, !listening.withLockedValue({ $0 }) {
                            listening.withLockedValue { $0 = true }
                            logger.info("registry: PostgreSQL reachable again")
                        }
                        handle(nil)
                        for try await notification in notifications { handle(notification.payload) }
                    }
                }
            } catch {
                if Task.isCancelled { break }
                if tracksReachability, listening.withLockedValue({ $0 }) {
                    listening.withLockedValue { $0 = false }
                    logger.error("registry: lost PostgreSQL; known subscriptions keep working from memory, writes answer 503 until it is back",
                                 metadata: ["error": "\(Self.describe(error))"])
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    // MARK: Subscriptions and sets

    public func insert(_ subscription: Subscription) async throws {
        try await inTransaction(registry: true) { connection in
            if let set = subscription.set {
                try await connection.query("""
                    INSERT INTO sets (id, topic_id, created_at) VALUES (\(set.id.rawValue), \(set.topicID.rawValue), \(set.createdAt))
                    ON CONFLICT (id) DO NOTHING
                    """, logger: logger)
                try await recordChanges(connection, kind: 2, ids: [set.id.rawValue])
            }
            try await insertRows(connection, [subscription])
        }
    }

    public func insert(batch subscriptions: [Subscription]) async throws {
        try await inTransaction(registry: true) { connection in
            let sets = Array(Set(subscriptions.compactMap(\.set)))
            if !sets.isEmpty {
                try await connection.query("""
                    INSERT INTO sets (id, topic_id, created_at)
                    SELECT * FROM unnest(\(sets.map(\.id.rawValue))::text[], \(sets.map(\.topicID.rawValue))::text[], \(sets.map(\.createdAt))::bigint[])
                    ON CONFLICT (id) DO NOTHING
                    """, logger: logger)
                try await recordChanges(connection, kind: 2, ids: sets.map(\.id.rawValue))
            }
            for chunk in stride(from: 0, to: subscriptions.count, by: Self.rowsPerStatement) {
                try await insertRows(connection, Array(subscriptions[chunk..<min(chunk + Self.rowsPerStatement, subscriptions.count)]))
            }
        }
    }

    private static let rowsPerStatement = 5_000

    /// Many rows per statement, as arrays unnested server-side (one round trip per chunk).
    /// postgres-nio binds no NULL array elements, so absent values travel as empty and NULLIF
    /// turns them back (no key, id or token is ever empty).
    private func insertRows(_ connection: PostgresConnection, _ subscriptions: [Subscription]) async throws {
        let keys = subscriptions.map { $0.restrictionKey.map { ByteBuffer(bytes: $0.rawBytes) } ?? ByteBuffer() }
        try await connection.query("""
            INSERT INTO subscriptions (id, push_token, topic_id, restriction_key, created_at, set_id)
            SELECT id, token, topic, NULLIF(key, ''::bytea), created, NULLIF(set_id, '')
            FROM unnest(\(subscriptions.map(\.id.rawValue))::text[], \(subscriptions.map(\.pushToken.rawValue))::text[],
                        \(subscriptions.map(\.topicID.rawValue))::text[], \(keys)::bytea[], \(subscriptions.map(\.createdAt))::bigint[],
                        \(subscriptions.map { $0.set?.id.rawValue ?? "" })::text[])
                 AS rows(id, token, topic, key, created, set_id)
            """, logger: logger)
        try await recordChanges(connection, kind: 1, ids: subscriptions.map(\.id.rawValue))
    }

    public func markDeleted(id: SubscriptionID, at time: Int64) async throws {
        try await inTransaction(registry: true) { connection in
            try await deleteSubscriptions(connection, "id = $1", id.rawValue, at: time)
        }
    }

    public func deleteSet(id: SetID, at time: Int64) async throws {
        try await inTransaction(registry: true) { connection in
            try await deleteSubscriptions(connection, "set_id = $1 AND deleted_at IS NULL", id.rawValue, at: time)
            try await connection.query("UPDATE sets SET deleted_at = \(time) WHERE id = \(id.rawValue)", logger: logger)
            try await recordChanges(connection, kind: 2, ids: [id.rawValue])
        }
    }

    /// Marks subscriptions deleted, and removes them from every list and their held messages.
    private func deleteSubscriptions(_ connection: PostgresConnection, _ condition: String, _ value: String, at time: Int64) async throws {
        func query(_ sql: String, _ extra: Int64? = nil) -> PostgresQuery {
            var query = PostgresQuery(unsafeSQL: sql)
            query.binds.append(value)
            if let extra { query.binds.append(extra) }
            return query
        }
        var changed = PostgresQuery(unsafeSQL: condition)
        changed.binds.append(value)
        try await recordSubscriptionChanges(connection, changed)
        try await connection.query(query("DELETE FROM list_members WHERE member_token IN (SELECT push_token FROM subscriptions WHERE \(condition))"), logger: logger)
        try await connection.query(query("DELETE FROM held_messages WHERE topic_id IN (SELECT topic_id FROM subscriptions WHERE \(condition))"), logger: logger)
        try await connection.query(query("UPDATE subscriptions SET deleted_at = $2, restriction_key = NULL WHERE \(condition)", time), logger: logger)
    }

    public func purgeDeleted(before time: Int64) async throws {
        try await inTransaction(registry: false) { connection in
            try await connection.query("DELETE FROM subscriptions WHERE deleted_at IS NOT NULL AND deleted_at < \(time)", logger: logger)
            try await connection.query("""
                DELETE FROM sets WHERE deleted_at IS NOT NULL AND deleted_at < \(time)
                AND NOT EXISTS (SELECT 1 FROM subscriptions WHERE subscriptions.set_id = sets.id)
                """, logger: logger)
            // Every instance purges; the change log is pruned here too.
            try await connection.query("""
                DELETE FROM registry_changes WHERE at < extract(epoch from now())::bigint - \(Self.changeRetentionSeconds)
                AND seq < (SELECT max(seq) FROM registry_changes)
                """, logger: logger)
        }
    }

    // MARK: Lists

    public func insertList(_ list: PushList) async throws {
        try await inTransaction(registry: true) { connection in
            try await connection.query("""
                INSERT INTO lists (id, push_token, creator_key, created_at)
                VALUES (\(list.id.rawValue), \(list.pushToken.rawValue), \(ByteBuffer(bytes: list.creatorKey.rawBytes)), \(list.createdAt))
                """, logger: logger)
            try await upsertMembers(connection, list.id, Array(list.members))
            try await recordChanges(connection, kind: 3, ids: [list.id.rawValue])
        }
    }

    public func updateList(id: ListID, _ changes: [ListChange]) async throws {
        try await inTransaction(registry: true) { connection in
            var upserts: [(PushToken, PushList.Member)] = [], removals: [String] = []
            for change in changes {
                switch change {
                case .upsert(let token, let member): upserts.append((token, member))
                case .remove(let token): removals.append(token.rawValue)
                }
            }
            if !removals.isEmpty {
                try await connection.query("DELETE FROM list_members WHERE list_id = \(id.rawValue) AND member_token = ANY(\(removals)::text[])", logger: logger)
            }
            try await upsertMembers(connection, id, upserts)
            try await recordChanges(connection, kind: 3, ids: [id.rawValue])
        }
    }

    public func deleteList(id: ListID) async throws {
        try await inTransaction(registry: true) { connection in
            try await connection.query("DELETE FROM lists WHERE id = \(id.rawValue)", logger: logger)
            try await recordChanges(connection, kind: 3, ids: [id.rawValue])
        }
    }

    private func upsertMembers(_ connection: PostgresConnection, _ listID: ListID, _ members: [(PushToken, PushList.Member)]) async throws {
        guard !members.isEmpty else { return }
        try await connection.query("""
            INSERT INTO list_members (list_id, member_token, expires_at, encrypted_key)
            SELECT \(listID.rawValue), token, NULLIF(expires, -1), NULLIF(key, '')
            FROM unnest(\(members.map(\.0.rawValue))::text[], \(members.map { $0.1.expires ?? -1 })::bigint[],
                        \(members.map { $0.1.encryptedKey ?? "" })::text[])
                 AS rows(token, expires, key)
            ON CONFLICT (list_id, member_token) DO UPDATE SET expires_at = excluded.expires_at, encrypted_key = excluded.encrypted_key
            """, logger: logger)
    }

    // MARK: Held messages

    public func hold(_ message: HeldMessage) async throws {
        try await inTransaction(registry: false) { connection in
            // The row of the same (topic_id, slot) is the replaced message.
            try await connection.query("DELETE FROM held_messages WHERE topic_id = \(message.topicID.rawValue) AND slot = \(message.slot)", logger: logger)
            try await connection.query("""
                INSERT INTO held_messages
                (id, topic_id, set_topic_id, slot, urgency, content_encoding, encrypted_key, accepted_at, expires_at, body, next_attempt)
                VALUES (\(message.id.rawValue), \(message.topicID.rawValue), \(message.setTopicID?.rawValue), \(message.slot),
                        \(message.message.urgency.rawValue), \(message.message.contentEncoding), \(message.encryptedKey),
                        \(message.message.acceptedAt), \(message.expiresAt), \(message.message.body),
                        \(message.message.acceptedAt + ResendSchedule.firstRetry))
                """, logger: logger)
        }
    }

    public func release(_ ids: [MessageID]) async throws {
        guard !ids.isEmpty else { return }
        _ = try await inTransaction(registry: false) { connection in
            try await connection.query("DELETE FROM held_messages WHERE id = ANY(\(ids.map(\.rawValue))::text[])", logger: logger)
        }
    }

    public func heldMessages() async throws -> [HeldMessage] {
        try await inTransaction(registry: false) { connection in
            try await heldMessages(connection, "SELECT \(unescaped: Self.heldColumns) FROM held_messages")
        }
    }

    static let heldColumns = "id, topic_id, set_topic_id, slot, urgency, content_encoding, encrypted_key, accepted_at, expires_at, body"

    /// The held messages a query returns (its columns: ``heldColumns``).
    func heldMessages(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> [HeldMessage] {
        var messages: [HeldMessage] = []
        for try await (id, topicID, setTopicID, slot, urgency, contentEncoding, encryptedKey, acceptedAt, expiresAt, body) in try await connection.query(
            query, logger: logger).decode((String, String, String?, String, String, String?, String?, Int64, Int64, ByteBuffer).self) {
            guard let urgency = Urgency(rawValue: urgency) else { continue }
            let message = PushMessage(id: MessageID(trusted: id), body: body, ttl: Int(expiresAt - acceptedAt), urgency: urgency,
                                      contentEncoding: contentEncoding, acceptedAt: acceptedAt)
            messages.append(HeldMessage(message, topicID: TopicID(trusted: topicID), setTopicID: setTopicID.map(TopicID.init(trusted:)),
                                        slot: slot, encryptedKey: encryptedKey))
        }
        return messages
    }

    // MARK: Receipts

    public func insert(_ subscription: ReceiptSubscription) async throws {
        _ = try await inTransaction(registry: false) { connection in
            try await connection.query("""
                INSERT INTO receipt_subscriptions (id, creator_key, created_at)
                VALUES (\(subscription.id.rawValue), \(ByteBuffer(bytes: subscription.creatorKey.rawBytes)), \(subscription.createdAt))
                """, logger: logger)
        }
    }

    public func deleteReceiptSubscription(id: ReceiptSubscriptionID) async throws {
        try await inTransaction(registry: false) { connection in
            try await connection.query("DELETE FROM receipt_requests WHERE subscription_id = \(id.rawValue)", logger: logger)
            try await connection.query("DELETE FROM receipts WHERE subscription_id = \(id.rawValue)", logger: logger)
            try await connection.query("DELETE FROM receipt_subscriptions WHERE id = \(id.rawValue)", logger: logger)
            try await notifyReceiptSubscriptionDeleted(connection, id)
        }
    }

    public func insert(_ requests: [ReceiptRequest]) async throws {
        guard !requests.isEmpty else { return }
        _ = try await inTransaction(registry: false) { connection in
            try await connection.query("""
                INSERT INTO receipt_requests (message_id, subscription_id, expires_at)
                SELECT * FROM unnest(\(requests.map(\.message.rawValue))::text[], \(requests.map(\.subscription.rawValue))::text[],
                                     \(requests.map(\.expiresAt))::bigint[])
                """, logger: logger)
        }
    }

    public func removeRequests(_ messages: [MessageID]) async throws {
        guard !messages.isEmpty else { return }
        _ = try await inTransaction(registry: false) { connection in
            try await connection.query("DELETE FROM receipt_requests WHERE message_id = ANY(\(messages.map(\.rawValue))::text[])", logger: logger)
        }
    }

    public func resolve(_ receipts: [Receipt]) async throws {
        guard !receipts.isEmpty else { return }
        try await inTransaction(registry: false) { connection in
            try await connection.query("DELETE FROM receipt_requests WHERE message_id = ANY(\(receipts.map(\.message.rawValue))::text[])", logger: logger)
            try await connection.query("""
                INSERT INTO receipts (subscription_id, message_id, status, at)
                SELECT * FROM unnest(\(receipts.map(\.subscription.rawValue))::text[], \(receipts.map(\.message.rawValue))::text[],
                                     \(receipts.map(\.status.rawValue))::integer[], \(receipts.map(\.at))::bigint[])
                ON CONFLICT (subscription_id, message_id) DO UPDATE SET status = excluded.status, at = excluded.at
                """, logger: logger)
        }
    }

    public func removeReceipts(_ receipts: [Receipt]) async throws {
        guard !receipts.isEmpty else { return }
        _ = try await inTransaction(registry: false) { connection in
            try await connection.query("""
                DELETE FROM receipts USING unnest(\(receipts.map(\.subscription.rawValue))::text[], \(receipts.map(\.message.rawValue))::text[])
                    AS gone(subscription_id, message_id)
                WHERE receipts.subscription_id = gone.subscription_id AND receipts.message_id = gone.message_id
                """, logger: logger)
        }
    }

    public func loadReceipts() async throws -> (subscriptions: [ReceiptSubscription], requests: [ReceiptRequest], receipts: [Receipt]) {
        try await inTransaction(registry: false) { connection in
            var subscriptions: [ReceiptSubscription] = [], requests: [ReceiptRequest] = [], receipts: [Receipt] = []
            for try await (id, key, createdAt) in try await connection.query(
                "SELECT id, creator_key, created_at FROM receipt_subscriptions", logger: logger).decode((String, ByteBuffer, Int64).self) {
                guard let creator = try? VAPIDPublicKey(rawBytes: key.readableBytesView) else { continue }
                subscriptions.append(ReceiptSubscription(id: ReceiptSubscriptionID(trusted: id), creatorKey: creator, createdAt: createdAt))
            }
            for try await (message, subscription, expiresAt) in try await connection.query(
                "SELECT message_id, subscription_id, expires_at FROM receipt_requests", logger: logger).decode((String, String, Int64).self) {
                requests.append(ReceiptRequest(message: MessageID(trusted: message), subscription: ReceiptSubscriptionID(trusted: subscription), expiresAt: expiresAt))
            }
            for try await (subscription, message, status, at) in try await connection.query(
                "SELECT subscription_id, message_id, status, at FROM receipts", logger: logger).decode((String, String, Int, Int64).self) {
                guard let status = Receipt.Status(rawValue: status) else { continue }
                receipts.append(Receipt(subscription: ReceiptSubscriptionID(trusted: subscription), message: MessageID(trusted: message), status: status, at: at))
            }
            return (subscriptions, requests, receipts)
        }
    }

    // MARK: Secret

    public func installationSecret() async throws -> [UInt8] {
        let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { ByteBuffer(bytes: $0) }
        return try await inTransaction(registry: false) { connection in
            // Whoever comes first creates it; every instance after reads the same value.
            try await connection.query("INSERT INTO secrets (name, value) VALUES ('installation', \(fresh)) ON CONFLICT (name) DO NOTHING", logger: logger)
            for try await value in try await connection.query("SELECT value FROM secrets WHERE name = 'installation'", logger: logger).decode(ByteBuffer.self)
            where value.readableBytes == 32 {
                return Array(value.readableBytesView)
            }
            throw SQLiteRegistryStore.SecretUnreadable()
        }
    }

    public func close() async throws {
        for task in listeners.withLockedValue({ $0 }) { task.cancel() }
        signals.finish()
        receiptListeners.finish()
        runner.cancel()
        await runner.value
    }
}

extension PostgresRegistryStore {
    /// Runs one statement (tests: to age a schema version, to look at rows).
    func executeForTests(_ sql: String) async throws {
        try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }
}
