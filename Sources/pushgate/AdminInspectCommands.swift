import ArgumentParser
import Crypto
import Foundation
import Pushgate
import WebPush

/// `pushgate admin list | inspect | delete`: the registry by MQTT topic ids, the one identifier
/// an operator sees on the broker that grants nothing. Subscription ids, push tokens and list ids
/// are capabilities (whoever holds one may push or delete) and are never printed.
extension AdminCommand {
    /// `pushgate admin list`: one JSON line per subscription (or list).
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List subscriptions by topic id (or lists with --lists), one JSON line each; works beside a running server.")

        @Option(name: .shortAndLong, help: "The YAML config file.")
        var config: String = "config.yaml"

        @Flag(help: "List the multi-device lists instead: creator key fingerprint, members, created.")
        var lists = false

        @Option(help: "At most this many lines.")
        var limit: Int = 1_000

        func run() async throws {
            let snapshot = try await AdminCommand.snapshot(config)
            let encoder = AdminCommand.encoder
            if lists {
                for list in snapshot.lists.sorted(by: { $0.createdAt < $1.createdAt }).prefix(limit) {
                    print(String(decoding: try encoder.encode(ListLine(list)), as: UTF8.self))
                }
            } else {
                for subscription in snapshot.subscriptions.sorted(by: { $0.createdAt < $1.createdAt }).prefix(limit) {
                    print(String(decoding: try encoder.encode(SubscriptionLine(subscription)), as: UTF8.self))
                }
            }
        }
    }

    /// `pushgate admin inspect <topic id>`.
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one subscription by its topic id (the level after the topic prefix, or the last level of its mqtt_topic).")

        @Option(name: .shortAndLong, help: "The YAML config file.")
        var config: String = "config.yaml"

        @Argument(help: "The subscription's topic id.")
        var topic: String

        func run() async throws {
            let snapshot = try await AdminCommand.snapshot(config)
            guard let subscription = snapshot.subscriptions.first(where: { $0.topicID.rawValue == topic }) else {
                printError("no live subscription has topic id \(topic)")
                throw ExitCode(1)
            }
            var line = SubscriptionLine(subscription)
            line.lists = snapshot.lists.count { $0.members[subscription.pushToken] != nil }
            line.setMembers = subscription.set.map { set in snapshot.subscriptions.count { $0.set?.id == set.id } }
            print(String(decoding: try AdminCommand.encoder.encode(line), as: UTF8.self))
        }
    }

    /// `pushgate admin delete <topic id>`.
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a subscription by its topic id: its push URL answers 410, it leaves every list, its held messages go.",
            discussion: """
                On PostgreSQL this works beside running instances (they hear of it within a second). \
                A SQLite registry is locked by its server: stop it first, or delete through the API \
                (DELETE on the subscription URL) while it runs.
                """
        )

        @Option(name: .shortAndLong, help: "The YAML config file.")
        var config: String = "config.yaml"

        @Argument(help: "The subscription's topic id.")
        var topic: String

        func run() async throws {
            let loaded = try loadConfigOrExit(config)
            let store = try await orExit("pushgate admin delete") { try await loaded.storage.open(as: .exclusiveTool) }
            let snapshot = try await store.load()
            guard let subscription = snapshot.subscriptions.first(where: { $0.topicID.rawValue == topic }) else {
                try await store.close()
                printError("no live subscription has topic id \(topic)")
                throw ExitCode(1)
            }
            try await store.markDeleted(id: subscription.id, at: Int64(Date().timeIntervalSince1970))
            try await store.close()
            print("deleted the subscription with topic id \(topic)")
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The registry as stored, read beside a running server.
    static func snapshot(_ config: String) async throws -> RegistrySnapshot {
        let loaded = try loadConfigOrExit(config)
        let store = try await loaded.storage.open(as: .sharedTool)
        let snapshot = try await store.load()
        try await store.close()
        return snapshot
    }
}

/// What `admin list` / `inspect` print of a subscription: nothing that grants anything.
struct SubscriptionLine: Encodable {
    var topic: String
    var setTopic: String?
    var created: String
    /// The fingerprint of the application server key it is restricted to, if any.
    var restrictedTo: String?
    var lists: Int?
    var setMembers: Int?

    init(_ subscription: Subscription) {
        topic = subscription.topicID.rawValue
        setTopic = subscription.set?.topicID.rawValue
        created = RFC3339.format(subscription.createdAt)
        restrictedTo = subscription.restrictionKey.map(KeyFingerprint.of)
    }

    enum CodingKeys: String, CodingKey {
        case topic, created, lists
        case setTopic = "set_topic"
        case restrictedTo = "restricted_to"
        case setMembers = "set_members"
    }
}

/// What `admin list --lists` prints of a list.
struct ListLine: Encodable {
    var creator: String
    var members: Int
    var created: String

    init(_ list: PushList) {
        creator = KeyFingerprint.of(list.creatorKey)
        members = list.members.count
        created = RFC3339.format(list.createdAt)
    }
}

/// A public key's fingerprint: the first 8 bytes of its SHA-256, hex (public keys are not
/// secrets, but a short form is what an operator compares).
enum KeyFingerprint {
    static func of(_ key: VAPIDPublicKey) -> String {
        SHA256.hash(data: key.rawBytes).prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}
