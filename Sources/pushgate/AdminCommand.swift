import ArgumentParser
import Foundation
import Pushgate
import WebPush

/// `pushgate admin …`: work on an installation's registry without SQL.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Administer the registry of an installation (the one in the config's storage section).",
        subcommands: [CreateSubscriptions.self, Stats.self, List.self, Inspect.self, Delete.self]
    )

    /// `pushgate admin create-subscriptions`: many subscriptions in one durable write.
    struct CreateSubscriptions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-subscriptions",
            abstract: "Create subscriptions in bulk (load tests, provisioning a fleet); prints one JSON line per subscription.",
            discussion: """
                Each line is what POST /subscribe answers: {"subscription", "endpoint", "mqtt_topic", \
                "mqtt_ack_topic", "restricted"}. The rows are written in one transaction. A running \
                server loads its registry at start, so stop it first (or restart it afterwards).
                """
        )

        @Option(name: .shortAndLong, help: "The YAML config file.")
        var config: String = "config.yaml"

        @Option(help: "How many subscriptions to create.")
        var count: Int

        @Option(help: "Write the JSON lines to this file instead of standard output ('-': standard output; /dev/null: none).")
        var output: String = "-"

        @Flag(help: "Put each subscription in a set of its own, as POST /subscribe without a set does (the default makes subscriptions without sets, as before sets existed: topics one level shorter).")
        var withSets = false

        @Option(help: "Restrict every subscription to this application server key (base64url of the uncompressed P-256 point, as applicationServerKey in POST /subscribe): a fleet for one application server.")
        var restrictedTo: String?

        func validate() throws {
            guard (1...100_000_000).contains(count) else { throw ValidationError("--count must be 1...100000000") }
            if let restrictedTo, (try? VAPIDPublicKey(base64URL: restrictedTo)) == nil {
                throw ValidationError("--restricted-to must be base64url of a 65-octet uncompressed P-256 point (an applicationServerKey)")
            }
        }

        func run() async throws {
            let loaded = try loadConfigOrExit(config)
            let store = try await loaded.storage.open(as: .exclusiveTool)
            try await (store as? SQLiteRegistryStore)?.setPageCache(mebibytes: 512)
            let now = Int64(Date().timeIntervalSince1970)
            let key = try restrictedTo.map { try VAPIDPublicKey(base64URL: $0) }
            let urls = ResourceURLs(base: loaded.server.publicURL)
            let topics = TopicScheme(prefix: loaded.mqtt.topicPrefix)
            let sink: FileHandle? = switch output {
            case "-": .standardOutput
            case "/dev/null": nil
            default: FileManager.default.createFile(atPath: output, contents: nil) ? FileHandle(forWritingAtPath: output) : nil
            }
            if output != "-" && output != "/dev/null" && sink == nil {
                printError("cannot write \(output)")
                throw ExitCode(1)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var remaining = count
            while remaining > 0 {
                let batch = (0..<min(remaining, 100_000)).map { _ in
                    Subscription.make(restrictionKey: key, now: now, set: withSets ? .make(now: now) : nil)
                }
                try await store.insert(batch: batch)
                if let sink {
                    var lines = Data()
                    for subscription in batch {
                        lines += try encoder.encode(SubscriptionCreatedBody(subscription, urls: urls, endpoints: topics.endpoints(subscription)))
                        lines.append(UInt8(ascii: "\n"))
                    }
                    sink.write(lines)
                }
                remaining -= batch.count
            }
            try await store.close()
        }
    }

    /// `pushgate admin stats`: counts, as JSON.
    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the registry's counts as JSON: {\"deleted\", \"lists\", \"sets\", \"subscriptions\"}.")

        @Option(name: .shortAndLong, help: "The YAML config file.")
        var config: String = "config.yaml"

        func run() async throws {
            let loaded = try loadConfigOrExit(config)
            let store = try await loaded.storage.open(as: .sharedTool)
            let snapshot = try await store.load()
            try await store.close()
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let counts = ["subscriptions": snapshot.subscriptions.count, "deleted": snapshot.deletedPushTokens.count,
                          "sets": snapshot.sets.count, "lists": snapshot.lists.count]
            print(String(decoding: try encoder.encode(counts), as: UTF8.self))
        }
    }
}
