// Sending notifications: one POST per webhook, 5 s timeout, three attempts with back-off, each body signed
// (X-Patchbay-Signature: sha256=HMAC-SHA256("TIMESTAMP.BODY") keyed with the project's webhook key, and
// X-Patchbay-Timestamp, so a receiver can check it and refuse replays). Who is told is the Engine's.
import Foundation
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
        for attempt in 0...backoff.count {
            if attempt > 0 { try? await Task.sleep(for: backoff[attempt - 1]) }
            let timestamp = Int64(Date().timeIntervalSince1970)
            let headers = [
                ("Content-Type", "application/json"),
                ("X-Patchbay-Event", notification.event.rawValue),
                ("X-Patchbay-Timestamp", String(timestamp)),
                ("X-Patchbay-Signature", WebhookKey.signature(key: key, timestamp: timestamp, body: notification.body)),
            ]
            do {
                let status = try await WebhookPost.send(to: notification.url, headers: headers, body: notification.body, timeout: .seconds(5))
                if (200..<300).contains(status) { return }
                logger.warning("a webhook answered with an error", metadata: ["url": "\(notification.url)", "status": "\(status)", "attempt": "\(attempt + 1)"])
            } catch {
                logger.warning("a webhook could not be reached", metadata: ["url": "\(notification.url)", "error": "\(error)", "attempt": "\(attempt + 1)"])
            }
        }
        logger.error("a webhook was given up after \(backoff.count + 1) attempts", metadata: ["url": "\(notification.url)", "run": "\(notification.runID)", "event": "\(notification.event.rawValue)"])
    }
}
