import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real headless Chromium driven through WebDriver (Debian's `chromium` and `chromium-driver`): a
/// chromedriver of its own on a free port, one browser session, ended when released.
final class Browser: @unchecked Sendable {
    // @unchecked: `driver`, `base` and `session` are set in init and only read afterwards; each call is one
    // blocking HTTP exchange, and a test uses its browser from one task at a time.
    let driver = Process()
    let base: String
    let port: Int
    private(set) var session = ""
    static let width = 1280, height = 900

    static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    init() throws {
        port = try Self.freePort()
        driver.executableURL = URL(fileURLWithPath: "/usr/bin/chromedriver")
        driver.arguments = ["--port=\(port)"]
        let output = Pipe()
        // chromedriver says "… was started successfully on port N." once it listens.
        let said = try Fixtures.start(driver, firstLineTo: output, until: "started successfully")
        guard said.contains("started successfully") else { throw Failure(description: "chromedriver did not start: \(said)") }
        base = "http://127.0.0.1:\(port)"
        let capabilities: [String: Any] = ["capabilities": ["alwaysMatch": [
            "browserName": "chrome",
            "goog:chromeOptions": ["binary": "/usr/bin/chromium",
                                   "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                            "--window-size=\(Self.width),\(Self.height)", "--hide-scrollbars", "--force-device-scale-factor=1"]],
        ]]]
        let answer = try call("POST", "/session", capabilities)
        guard let value = answer["value"] as? [String: Any], let id = value["sessionId"] as? String else {
            throw Failure(description: "no browser session: \(answer)")
        }
        session = id
        try call("POST", sessionPath + "/timeouts", ["script": 120_000, "pageLoad": 60_000])
    }

    deinit {
        if !session.isEmpty { _ = try? call("DELETE", "/session/\(session)", nil) }
        // chromedriver ignores SIGTERM; it ends on SIGKILL (its browser ended with the session).
        kill(driver.processIdentifier, SIGKILL)
        driver.waitUntilExit()
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Failure(description: "no free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// One WebDriver command; its JSON answer. A WebDriver error is thrown with its message.
    @discardableResult
    func call(_ method: String, _ path: String, _ body: [String: Any]?) throws -> [String: Any] {
        // One exchange on a connection of its own, as the daemon's tests talk to `patchbay serve`.
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        let head = "\(method) \(path) HTTP/1.1\r\nHost: \(base.dropFirst(7))\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(payload.count)\r\n\r\n"
        let answer = try ServeProcess.exchange(Array(head.utf8) + Array(payload), port: port, timeout: 150)
        let object = (try? JSONSerialization.jsonObject(with: answer.body)) as? [String: Any] ?? [:]
        if let value = object["value"] as? [String: Any], let error = value["error"] as? String {
            throw Failure(description: "WebDriver \(method) \(path): \(error): \(value["message"] as? String ?? "")")
        }
        return object
    }

    private var sessionPath: String { "/session/\(session)" }

    func open(_ url: String) throws { try call("POST", sessionPath + "/url", ["url": url]) }

    /// The element for a CSS selector (its WebDriver id).
    func element(_ selector: String) throws -> String {
        let answer = try call("POST", sessionPath + "/element", ["using": "css selector", "value": selector])
        guard let value = answer["value"] as? [String: Any], let id = value.values.first as? String else {
            throw Failure(description: "no element \(selector)")
        }
        return id
    }

    func click(_ selector: String) throws { try call("POST", sessionPath + "/element/\(try element(selector))/click", [:]) }

    func type(_ text: String, into selector: String) throws {
        try call("POST", sessionPath + "/element/\(try element(selector))/value", ["text": text])
    }

    /// Runs a script in the page and returns what it returns.
    func run(_ script: String, _ arguments: [Any] = []) throws -> Any? {
        try call("POST", sessionPath + "/execute/sync", ["script": script, "args": arguments])["value"]
    }

    var source: String { get throws { try call("GET", sessionPath + "/source", nil)["value"] as? String ?? "" } }
    var url: String { get throws { try call("GET", sessionPath + "/url", nil)["value"] as? String ?? "" } }

    /// The viewport as PNG bytes.
    func screenshot() throws -> Data {
        guard let text = try call("GET", sessionPath + "/screenshot", nil)["value"] as? String, let data = Data(base64Encoded: text) else {
            throw Failure(description: "no screenshot")
        }
        return data
    }

    /// Waits until `script` returns true in the page, or `seconds` pass (then false).
    func wait(until script: String, within seconds: Double) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        // A navigation ends the page the script waits in (WebDriver says "script timeout" or the context is gone):
        // then it waits again in the new page, until the deadline.
        while true {
            do { return try waitOnce(until: script, within: max(0.1, deadline.timeIntervalSinceNow)) } catch let failure as Failure
                where Date() < deadline && ["script timeout", "execution context", "unload", "target frame detached"].contains(where: failure.description.contains) {
                continue
            }
        }
    }

    private func waitOnce(until script: String, within seconds: Double) throws -> Bool {
        // executeAsync lets the page itself wait on its own events; polling here would need sleeps.
        let answer = try call("POST", sessionPath + "/execute/async", ["script": """
            const done = arguments[arguments.length - 1];
            const deadline = Date.now() + \(Int(seconds * 1000));
            const check = () => { let ok = false; try { ok = !!(function () { \(script) })(); } catch (e) {}
              if (ok) done(true); else if (Date.now() > deadline) done(false); else requestAnimationFrame(check); };
            check();
            """, "args": []])
        return answer["value"] as? Bool ?? false
    }

    /// Width and height from a PNG's IHDR chunk.
    static func pngSize(_ data: Data) -> (width: Int, height: Int)? {
        let bytes = [UInt8](data.prefix(24))
        guard bytes.count == 24, bytes[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { return nil }
        func int(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        return (int(16), int(20))
    }
}
