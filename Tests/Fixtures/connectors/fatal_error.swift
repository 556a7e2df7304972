// A Swift connector (PatchbaySDK) that stops with fatalError: the runner dies
// with a trap, and the host reports Swift's own message.
import PatchbaySDK

struct Fatal: Connector {
    static let id = "test.swift-fatal"
    static let version = "1.0.0"
    static let displayName = "Swift fatalError"
    static let pattern = JobPattern.extraction

    func run(_ task: TaskContext) throws {
        task.info("about to call fatalError")
        fatalError("the invariant of the test connector broke")
    }
}

@_cdecl("patchbay_connector_entry")
public func entry(_ host: UnsafePointer<patchbay_host>?) -> UnsafePointer<patchbay_connector>? { export(Fatal.self, host: host) }
