// Sending notifications: one POST per webhook, 5 s timeout, three attempts with back-off, each body signed
// (X-Patchbay-Signature: sha256=HMAC-SHA256("TIMESTAMP.BODY") keyed with the project's webhook key, and
// X-Patchbay-Timestamp, so a receiver can check it and refuse replays). Who is told is the Engine's.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
public import Logging
public import PatchbayEngine
import PatchbayModel
import PatchbaySecurity

public struct WebhookSender: Sendable {
    let key: String
    let logger: Logger
    /// Waits before the second and third attempts.
    let backoff: [Duration]

    public init(key: String, logger: Logger, backoff: [Duration] = [.milliseconds(500), .seconds(2)]) {
        self.key = key
        self.logger = logger
        self.backoff = backoff
    }

    /// Sends each notification; a receiver that fails three times is logged, never retried forever.
    public func deliver(_ notifications: [WebhookNotification]) async {
        await withTaskGroup(of: Void.self) { group in
            for notification in notifications { group.addTask { await self.send(notification) } }
        }
    }

    private func send(_ notification: WebhookNotification) async {
        guard let url = URL(string: notification.url) else { return }
        for attempt in 0...backoff.count {
            if attempt > 0 { try? await Task.sleep(for: backoff[attempt - 1]) }
            let timestamp = Int64(Date().timeIntervalSince1970)
            var request = URLRequest(url: url, timeoutInterval: 5)
            request.httpMethod = "POST"
            request.httpBody = Data(notification.body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.setValue(notification.event.rawValue, forHTTPHeaderField: "X-Patchbay-Event")
            request.setValue(String(timestamp), forHTTPHeaderField: "X-Patchbay-Timestamp")
            request.setValue(WebhookKey.signature(key: key, timestamp: timestamp, body: notification.body), forHTTPHeaderField: "X-Patchbay-Signature")
            do {
                let (_, response) = try await URLSession.shared.data(for: request)
                if let status = (response as? HTTPURLResponse)?.statusCode, (200..<300).contains(status) { return }
                logger.warning("a webhook answered with an error", metadata: ["url": "\(url)", "status": "\((response as? HTTPURLResponse)?.statusCode ?? 0)", "attempt": "\(attempt + 1)"])
            } catch {
                logger.warning("a webhook could not be reached", metadata: ["url": "\(url)", "error": "\(error)", "attempt": "\(attempt + 1)"])
            }
        }
        logger.error("a webhook was given up after \(backoff.count + 1) attempts", metadata: ["url": "\(url)", "run": "\(notification.runID)", "event": "\(notification.event.rawValue)"])
    }
}
