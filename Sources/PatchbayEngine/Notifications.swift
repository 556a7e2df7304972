// Who is told about a run, and what they are told: Keboola's rule. A run started by hand (or through the API
// by a token other than the flow's orchestration token) tells only the token that started it, through that
// token's webhook; a run started by a schedule, a trigger or the orchestration token tells the flow's
// webhooks. The payload is built here; sending it (HTTP, signing, retries) is the front end's.
public import Foundation
public import PatchbayModel
import PatchbaySecurity
import PatchbayStore

/// One webhook call to make.
public struct WebhookNotification: Sendable, Equatable {
    public var url: String
    public var event: FlowNotifications.Event
    public var runID: Int64
    /// The JSON body: {"event", "run": {id, flow, status, trigger, message, created_at, started_at, finished_at}, "sent_at"}.
    public var body: String
}

extension Engine {
    /// The notifications of a run that just ended (error or warning), by the rule above.
    public func notifications(forEndOf run: RunRecord) -> [WebhookNotification] {
        let event: FlowNotifications.Event
        switch run.status {
        case .error, .terminated: event = .error
        case .warning: event = .warning
        default: return []
        }
        return notifications(event, of: run)
    }

    /// Notifications for runs still going that take much longer than usual: longer than the average of the
    /// flow's last 20 finished runs by more than its tolerance. `alreadySent` are runs told about before.
    public func longRunningNotifications(now: Date, alreadySent: Set<Int64>) -> [WebhookNotification] {
        var notes: [WebhookNotification] = []
        for run in (try? store.unfinishedRuns()) ?? [] where run.status == .processing && !alreadySent.contains(run.id!) {
            guard let started = run.startedAt else { continue }
            let durations = ((try? store.runs(flow: run.flowName, limit: 40)) ?? []).filter { $0.status.isFinished && $0.id != run.id }.prefix(20)
                .compactMap { past in past.startedAt.flatMap { start in past.finishedAt.map { $0.timeIntervalSince(start) } } }
            guard !durations.isEmpty else { continue }
            let average = durations.reduce(0, +) / Double(durations.count)
            // The flow's snapshot (its tolerance, its webhooks) is read only for a run already past the average: each tick sees every running run.
            guard now.timeIntervalSince(started) > average, let flow = try? recordedFlow(of: run.id!) else { continue }
            let tolerance = Double(flow.notifications?.longRunningTolerancePercent ?? 50) / 100
            if now.timeIntervalSince(started) > average * (1 + tolerance) {
                notes += notifications(.longRunning, of: run, note: String(format: "running %.1f s, the average of its last %d runs is %.1f s", now.timeIntervalSince(started), durations.count, average))
            }
        }
        return notes
    }

    private func notifications(_ event: FlowNotifications.Event, of run: RunRecord, note: String? = nil) -> [WebhookNotification] {
        var urls: [String] = []
        if let starter = run.startedByTokenID, starter != run.tokenID {
            // Started by a person (or a token of theirs): only they are told, if their token has a webhook.
            if let webhook = (try? store.token(starter))??.webhook { urls = [webhook] }
        } else if let flow = try? recordedFlow(of: run.id!) {
            urls = (flow.notifications?.webhooks ?? []).filter { $0.on.contains(event) }.map(\.url)
        }
        guard !urls.isEmpty else { return [] }
        var object: [String: Any] = [
            "event": event.rawValue, "sent_at": Engine.rfc3339(time.now(), milliseconds: true),
            "run": ["id": run.id!, "flow": run.flowName, "status": run.status.rawValue, "trigger": run.trigger, "message": run.message as Any,
                    "created_at": Engine.rfc3339(run.createdAt, milliseconds: true),
                    "started_at": run.startedAt.map { Engine.rfc3339($0, milliseconds: true) } as Any,
                    "finished_at": run.finishedAt.map { Engine.rfc3339($0, milliseconds: true) } as Any],
        ]
        if let note { object["note"] = note }
        let body = String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8), as: UTF8.self)
        return urls.map { WebhookNotification(url: $0, event: event, runID: run.id!, body: body) }
    }

    /// The project's webhook signing key: the text of `.patchbay/webhook-key` (64 hex characters, made once, 0600),
    /// which receivers use to check `X-Patchbay-Signature`.
    public func webhookSigningKey() throws -> String {
        try WebhookKey.load(at: project.stateDirectory + "/webhook-key")
    }
}
