import ArgumentParser
import Foundation
import Pushgate

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
        guard !loaded.routes.isEmpty else {
            printError("\(config): no routes (add a `routes:` section; config.yaml shows one)")
            throw ExitCode(1)
        }
        let store = try await SQLiteRegistryStore.open(path: loaded.storage.path)
        let secret = try await store.installationSecret()
        try await store.close()
        let table = RouteTable(loaded.routes, secret: secret)
        for entry in table.entries {
            let url = RouteTable.pushURL(entry, publicURL: loaded.server.publicURL)
            if json {
                var subscription: [String: Any] = ["endpoint": url]
                if let keys = entry.route.keys { subscription["keys"] = ["p256dh": keys.p256dh, "auth": keys.auth] }
                let object: [String: Any] = ["name": entry.route.name, "topic": entry.route.topic, "subscription": subscription]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("\(entry.route.name)\t\(entry.route.topic)\t\(url)")
            }
        }
    }
}
