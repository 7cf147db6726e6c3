import ArgumentParser
import Foundation
import Pushgate
import WebPushClient

/// `pushgate routes --config PATH`: prints each admin route's push URL (derived from the
/// registry's installation secret, which this creates if the server never ran).
struct RoutesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "Print the push URL of every route in the config (the URLs are capabilities: hand them only to the application servers that push there).",
        discussion: """
            With --json, prints one JSON object per route: name, topic and the web-push subscription \
            ({"endpoint", "keys"}) to give a web-push library; "keys" appears when the route has them.
            """
    )

    @Option(name: .shortAndLong, help: "The YAML config file.")
    var config: String = "config.yaml"

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    func run() async throws {
        let loaded = try loadConfigOrExit(config)
        guard !loaded.broadcasts.isEmpty else {
            printError("\(config): no routes (add a `routes:` section; config.yaml shows one)")
            throw ExitCode(1)
        }
        let store = try await loaded.storage.open(as: .sharedTool)
        let secret = try await store.installationSecret()
        try await store.close()
        let table = BroadcastTable(loaded.broadcasts, secret: secret)
        let urls = ResourceURLs(base: loaded.server.publicURL)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for entry in table.entries {
            let url = urls.url(.broadcastPush, entry.token)
            if json {
                let keys = entry.route.keys.map { PushSubscriptionInfo.Keys(p256dh: $0.p256dh, auth: $0.auth) }
                let line = RouteLine(name: entry.route.name, topic: entry.route.topic, subscription: .init(endpoint: url, keys: keys))
                print(String(decoding: try encoder.encode(line), as: UTF8.self))
            } else {
                print("\(entry.route.name)\t\(entry.route.topic)\t\(url)")
            }
        }
    }
}

/// One line of `pushgate routes --json`.
private struct RouteLine: Encodable {
    struct Subscription: Encodable {
        var endpoint: String
        /// Only when the route has the fleet's shared keys.
        var keys: PushSubscriptionInfo.Keys?
    }

    var name: String
    var topic: String
    var subscription: Subscription
}
