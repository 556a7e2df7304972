// What a project's patchbay.yaml says beyond marking the root: its name and the rate limits its tasks share.
// Parsed with locations, so a mistake is refused at its FILE:LINE:COLUMN and field. Owns: the settings'
// grammar. Must never know: how a limit is enforced.
import Foundation
import PatchbayCore

/// A rate limit on one service: `perSecond` requests a second on average, bursts of up to `burst`.
public struct RateLimit: Sendable, Equatable {
    public var perSecond: Double
    public var burst: Double

    public init(perSecond: Double, burst: Double? = nil) {
        self.perSecond = perSecond
        self.burst = burst ?? max(1, perSecond)
    }
}

/// The project's settings.
///
///     name: orders
///     rate_limits:
///       api.example.com: {per_second: 10, burst: 20}
public struct ProjectSettings: Sendable, Equatable {
    public var name: String?
    /// By key: the service's host name, as connectors ask for it (rate_limit in the ABI).
    public var rateLimits: [String: RateLimit]

    public init(name: String? = nil, rateLimits: [String: RateLimit] = [:]) {
        self.name = name
        self.rateLimits = rateLimits
    }

    /// Reads `file`; no file means no settings. A malformed one is every problem, located.
    public static func load(file: String) throws(FlowError) -> ProjectSettings {
        guard let data = FileManager.default.contents(atPath: file) else { return ProjectSettings() }
        let root: Node
        do { root = try DocumentParser.parse(String(decoding: data, as: UTF8.self), file: file) } catch let error as FlowError {
            throw error
        } catch {
            throw FlowError([FlowIssue(SourceLocation(file: file, line: 1, column: 1), "", "not valid YAML: \(error)")])
        }
        if case .scalar(.null) = root.kind { return ProjectSettings() }
        guard case .mapping(let pairs) = root.kind else {
            throw FlowError([FlowIssue(root.location, "", "the project file must be a mapping (name:, rate_limits:)")])
        }
        var settings = ProjectSettings()
        var issues: [FlowIssue] = []
        let allowed = ["name", "rate_limits"]
        for pair in pairs {
            switch pair.key {
            case "name":
                if case .scalar(.string(let name)) = pair.value.kind { settings.name = name } else {
                    issues.append(FlowIssue(pair.value.location, "name", "must be a string, not \(pair.value.typeName)"))
                }
            case "rate_limits":
                guard case .mapping(let limits) = pair.value.kind else {
                    issues.append(FlowIssue(pair.value.location, "rate_limits", "must map a service's host name to {per_second, burst}"))
                    continue
                }
                for limit in limits {
                    let path = "rate_limits.\(limit.key)"
                    guard case .mapping(let fields) = limit.value.kind else {
                        issues.append(FlowIssue(limit.value.location, path, "must be {per_second: N, burst: M}"))
                        continue
                    }
                    var perSecond: Double?, burst: Double?
                    for field in fields {
                        let number: Double? = switch field.value.kind {
                        case .scalar(.integer(let value)): Double(value)
                        case .scalar(.number(let value)): value
                        default: nil
                        }
                        switch field.key {
                        case "per_second":
                            guard let number, number > 0, number.isFinite else {
                                issues.append(FlowIssue(field.value.location, "\(path).per_second", "must be a number above 0 (requests a second)"))
                                continue
                            }
                            perSecond = number
                        case "burst":
                            guard let number, number >= 1, number.isFinite else {
                                issues.append(FlowIssue(field.value.location, "\(path).burst", "must be a number of requests, 1 or more"))
                                continue
                            }
                            burst = number
                        default:
                            issues.append(FlowIssue(field.keyLocation, "\(path).\(field.key)", "unknown field; allowed here: per_second, burst"))
                        }
                    }
                    guard let perSecond else {
                        if !issues.contains(where: { $0.path == "\(path).per_second" }) {
                            issues.append(FlowIssue(limit.value.location, path, "per_second is required"))
                        }
                        continue
                    }
                    settings.rateLimits[limit.key] = RateLimit(perSecond: perSecond, burst: burst)
                }
            default:
                let suggestion = allowed.min { editDistance($0, pair.key) < editDistance($1, pair.key) }
                    .map { editDistance($0, pair.key) <= 2 ? " (did you mean '\($0)'?)" : "" } ?? ""
                issues.append(FlowIssue(pair.keyLocation, pair.key, "unknown field\(suggestion); allowed here: \(allowed.joined(separator: ", "))"))
            }
        }
        if !issues.isEmpty { throw FlowError(issues) }
        return settings
    }
}
