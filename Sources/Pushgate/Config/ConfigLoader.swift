import Foundation
import Yams

/// Reads and validates a configuration file, turning every problem into a ``ConfigError`` that
/// points at the line and column to fix.
public enum ConfigLoader {
    /// Loads `path`. Relative paths inside the file are resolved against the file's folder.
    public static func load(path: String) throws(ConfigError) -> PushgateConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, line: nil, column: nil, message: "cannot read the config file",
                              hint: "check the path; `pushgate check-config config.yaml` validates a file")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parse(yaml: text, file: path, directory: directory)
    }

    /// Parses YAML text; `file` names it in errors and `directory` anchors relative paths.
    public static func parse(yaml: String, file: String, directory: String) throws(ConfigError) -> PushgateConfig {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw ConfigError(file: file, line: 1, column: 1, message: "the config file is empty",
                                  hint: "start from the commented config.yaml in the repository")
            }
            root = node
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw syntaxError(error, file: file)
        } catch {
            throw ConfigError(file: file, line: nil, column: nil, message: "\(error)", hint: nil)
        }
        guard root.mapping != nil else {
            throw ConfigError(file: file, line: root.mark?.line, column: root.mark?.column,
                              message: "the config must be a mapping of sections (server, mqtt, storage, ...)", hint: nil)
        }
        do {
            return try YAMLDecoder().decode(PushgateConfig.self, from: root, userInfo: [.configDirectory: directory])
        } catch {
            throw located(error, under: [], root: root, file: file)
        }
    }

    /// Every problem of a config file, for `check-config`: each section is decoded on its own, so
    /// a mistake in one does not hide the next (one error per section at most, in file order);
    /// an empty list means the file loads.
    public static func validate(path: String) -> [ConfigError] {
        let first: ConfigError
        do {
            _ = try load(path: path)
            return []
        } catch {
            first = error
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let root = try? Yams.compose(yaml: text),
              let mapping = root.mapping
        else { return [first] }
        let userInfo: [CodingUserInfoKey: Any] = [.configDirectory: URL(fileURLWithPath: path).deletingLastPathComponent().path]
        func section<T: Decodable>(_ type: T.Type) -> (Node) throws -> Void {
            { node in _ = try YAMLDecoder().decode(type, from: node, userInfo: userInfo) }
        }
        let sections: [String: (Node) throws -> Void] = [
            "server": section(ServerConfig.self), "mqtt": section(MQTTConfig.self), "storage": section(StorageConfig.self),
            "limits": section(LimitsConfig.self), "logging": section(LoggingConfig.self), "metrics": section(MetricsConfig.self),
            "access": section(AccessConfig.self), "lists": section(ListsConfig.self), "receipts": section(ReceiptsConfig.self),
            "rate_limits": section(RateLimitsConfig.self), "routes": section([BroadcastConfig].self),
        ]
        var errors: [ConfigError] = []
        for (key, value) in mapping {
            guard let name = key.string, let decode = sections[name] else {
                let allowed = sections.keys.sorted().joined(separator: ", ")
                errors.append(ConfigError(file: path, line: key.mark?.line, column: key.mark?.column,
                                          message: "unknown key '\(key.string ?? "?")' at the top level", hint: "allowed: \(allowed)"))
                continue
            }
            do {
                try decode(value)
            } catch {
                errors.append(located(error, under: [name], root: root, file: path))
            }
        }
        for required in ["server", "mqtt", "storage"] where mapping[required] == nil {
            errors.append(ConfigError(file: path, line: 1, column: 1, message: "missing required section '\(required)'",
                                      hint: "config.yaml in the repository shows every section"))
        }
        // What only the whole file can check (a route below the topic prefix) shows once the
        // sections themselves are right.
        return errors.isEmpty ? [first] : errors.sorted { ($0.line ?? 0, $0.column ?? 0) < ($1.line ?? 0, $1.column ?? 0) }
    }

    /// An error of decoding the part of `root` at `prefix`, located in the file.
    private static func located(_ error: any Error, under prefix: [String], root: Node, file: String) -> ConfigError {
        switch error {
        case let issue as ConfigIssue:
            let mark = locate(prefix + issue.codingPath, in: root, key: issue.subject == .key)
            return ConfigError(file: file, line: mark?.line, column: mark?.column, message: issue.message, hint: issue.hint)
        case let error as DecodingError:
            return decodingError(error, prefix: prefix, root: root, file: file)
        case let error as ConfigError:
            return error
        default:
            return ConfigError(file: file, line: nil, column: nil, message: "\(error)", hint: nil)
        }
    }

    private static func syntaxError(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, column: mark.column, message: "YAML syntax: \(problem)",
                               hint: "check indentation (spaces, not tabs) and quoting around this point")
        default:
            return ConfigError(file: file, line: nil, column: nil, message: "YAML: \(error)", hint: nil)
        }
    }

    private static func decodingError(_ error: DecodingError, prefix: [String], root: Node, file: String) -> ConfigError {
        func located(_ path: [any CodingKey], _ message: String, _ hint: String?) -> ConfigError {
            let mark = locate(prefix + path.map(\.stringValue), in: root, key: false)
            return ConfigError(file: file, line: mark?.line, column: mark?.column, message: message, hint: hint)
        }
        switch error {
        case .keyNotFound(let key, let context):
            let section = (prefix + context.codingPath.map(\.stringValue)).joined(separator: ".")
            return located(context.codingPath, "missing required key '\(key.stringValue)' in '\(section.isEmpty ? "top level" : section)'",
                           "add '\(key.stringValue):' here; config.yaml in the repository shows every key with its default")
        case .typeMismatch(let type, let context):
            let name = context.codingPath.last?.stringValue ?? "value"
            let found = node(at: prefix + context.codingPath.map(\.stringValue), in: root).map(describe) ?? "nothing"
            return located(context.codingPath, "'\(name)' must be \(typeName(type)), found \(found)",
                           type == Bool.self ? "use true or false" : nil)
        case .valueNotFound(let type, let context):
            let name = context.codingPath.last?.stringValue ?? "value"
            return located(context.codingPath, "'\(name)' is empty; it must be \(typeName(type))", "give it a value or remove the key")
        case .dataCorrupted(let context):
            return located(context.codingPath, context.debugDescription, nil)
        @unknown default:
            return ConfigError(file: file, line: nil, column: nil, message: "\(error)", hint: nil)
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "a whole number"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        default: "a \(type)".replacingOccurrences(of: "Swift.", with: "")
        }
    }

    private static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): "'\(scalar.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    private static func node(at path: [String], in root: Node) -> Node? {
        var current = root
        for component in path {
            if let mapping = current.mapping {
                guard let value = mapping.first(where: { $0.key.string == component })?.value else { return nil }
                current = value
            } else if let sequence = current.sequence, let index = sequenceIndex(component), sequence.indices.contains(index) {
                current = sequence[index]
            } else {
                return nil
            }
        }
        return current
    }

    /// A coding-path component naming a sequence element: Yams spells index 2 "Index 2".
    private static func sequenceIndex(_ component: String) -> Int? {
        Int(component) ?? (component.hasPrefix("Index ") ? Int(component.dropFirst(6)) : nil)
    }

    /// The position of the node at `path`, or of its key when `key` is set; falls back to the
    /// nearest ancestor that exists.
    private static func locate(_ path: [String], in root: Node, key: Bool) -> Mark? {
        if key, let last = path.last, let parent = node(at: Array(path.dropLast()), in: root)?.mapping,
           let pair = parent.first(where: { $0.key.string == last }) {
            return pair.key.mark
        }
        var prefix = path
        while true {
            if let found = node(at: prefix, in: root) { return found.mark }
            if prefix.isEmpty { return root.mark }
            prefix.removeLast()
        }
    }
}
