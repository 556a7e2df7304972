// The JSON shapes of runs and jobs (with each wait's reason), for `--output json` and the HTTP API alike: one
// representation, so that a script that reads one reads the other. Knows nothing of HTTP or of the terminal.
public import Foundation
public import PatchbayEngine
public import PatchbayRegistry
import PatchbayModel
import PatchbaySchedule
public import PatchbayCore

/// A time for JSON: RFC 3339 in UTC with milliseconds and its `Z` ("2026-12-02T01:31:12.822Z"), as `task run` writes it.
public func iso(_ date: Date?) -> Any {
    date.map(rfc3339UTC) ?? NSNull()
}

/// "2026-12-02T01:31:12.822Z": the calendar fields from `gmtime_r`, the milliseconds truncated as ISO8601FormatStyle
/// truncates them. Written by hand: the format style took about 10 µs a date, three dates a job.
public func rfc3339UTC(_ date: Date) -> String {
    let since1970 = date.timeIntervalSince1970
    var seconds = time_t(since1970.rounded(.down))
    var milliseconds = Int(((since1970 - Double(seconds)) * 1000).rounded(.down))
    if milliseconds >= 1000 { seconds += 1; milliseconds -= 1000 }
    var fields = tm()
    gmtime_r(&seconds, &fields)
    func digits(_ value: Int, _ count: Int, into out: inout [UInt8]) {
        var value = value, place = out.count + count
        let start = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        while place > start {
            place -= 1
            out[place] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
        }
    }
    var out: [UInt8] = []
    out.reserveCapacity(24)
    digits(Int(fields.tm_year) + 1900, 4, into: &out); out.append(UInt8(ascii: "-"))
    digits(Int(fields.tm_mon) + 1, 2, into: &out); out.append(UInt8(ascii: "-"))
    digits(Int(fields.tm_mday), 2, into: &out); out.append(UInt8(ascii: "T"))
    digits(Int(fields.tm_hour), 2, into: &out); out.append(UInt8(ascii: ":"))
    digits(Int(fields.tm_min), 2, into: &out); out.append(UInt8(ascii: ":"))
    digits(Int(fields.tm_sec), 2, into: &out); out.append(UInt8(ascii: "."))
    digits(milliseconds, 3, into: &out); out.append(UInt8(ascii: "Z"))
    return String(decoding: out, as: UTF8.self)
}

public func jobJSON(_ job: JobRecord, outputs: [OutputRecord], progress: String? = nil) -> [String: Any] {
    var object: [String: Any] = [
        "id": job.id!, "task": job.taskID, "name": job.taskName, "phase": job.phaseID, "attempt": job.attempt,
        "connector": ["id": job.connectorID, "version": job.connectorVersion as Any, "sha256": job.connectorSHA256 as Any],
        "configuration": job.configurationID as Any, "configuration_key": job.configurationKey,
        "continue_on_failure": job.continueOnFailure, "status": job.status.rawValue,
        "created_at": iso(job.createdAt), "started_at": iso(job.startedAt), "finished_at": iso(job.finishedAt),
        "failure_class": job.failureClass?.rawValue as Any, "message": job.message as Any, "exit": job.exitKind as Any,
        "exit_summary": job.exitSummary as Any, "runner_pid": job.runnerPID as Any, "rows_out": job.rowsOut,
        "reused_job": job.reusedJobID as Any, "sandbox": job.sandbox as Any, "progress": progress as Any,
        "outputs": outputs.map { ["name": $0.name, "secret": $0.isSecret, "value": $0.isSecret ? "[hidden]" : ($0.value ?? "")] },
    ]
    if let parameters = job.parametersJSON, let value = try? JSONSerialization.jsonObject(with: Data(parameters.utf8)) {
        object["parameters"] = value
    }
    return object
}

public func runJSON(_ detail: RunDetail) -> [String: Any] {
    let run = detail.run
    return [
        "id": run.id!, "flow": run.flowName, "file": run.flowFile, "status": run.status.rawValue, "trigger": run.trigger,
        "retry_of": run.retryOf as Any, "parallelism": run.parallelism, "message": run.message as Any,
        "created_at": iso(run.createdAt), "started_at": iso(run.startedAt), "finished_at": iso(run.finishedAt),
        "host_pid": run.hostPID as Any,
        "jobs": detail.jobs.map { detail -> [String: Any] in
            var object = jobJSON(detail.job, outputs: detail.outputs, progress: detail.progress)
            object["wait"] = detail.wait.map { ["reason": $0.reason.rawValue, "detail": $0.detail, "until": iso($0.until)] as [String: Any] } ?? NSNull()
            object["read"] = detail.lineage.filter { $0.direction == .read }.map { ["table": $0.tableName, "producer_job": $0.producerJobID as Any] }
            object["wrote"] = detail.lineage.filter { $0.direction == .write }.map { ["table": $0.tableName, "rows": $0.rowCount as Any] }
            return object
        },
    ]
}


extension CatalogEntry {
    /// A plugin as `plugins list --output json` and GET /v1/plugins show it.
    public var json: [String: Any] {
        var object: [String: Any] = ["path": path, "sha256": sha256, "size": size, "status": isReady ? "ready" : "quarantined"]
        if case .quarantined(let reason) = status { object["reason"] = reason }
        if let d = descriptor {
            object["id"] = d.id
            object["version"] = d.version
            object["display_name"] = d.displayName
            object["description"] = d.description
            object["pattern"] = pattern?.name ?? "unknown"
            object["abi"] = abiVersionText
            object["descriptor_size"] = d.structSize
            object["credentials"] = d.credentialNames
            object["capabilities"] = d.capabilities.names  // words, as everywhere else; the bits beside them
            object["capability_bits"] = d.capabilities.rawValue
            object["has_check"] = d.hasCheck
            object["has_cancel"] = d.hasCancel
            object["network"] = ["kind": d.network.kindName, "tcp_ports": d.network.ports.map(Int.init)]
            // null: not declared (ABI 1.4); a list: the whole of what it sets or writes.
            object["outputs"] = d.lineage.outputs.map { $0 as Any } ?? NSNull()
            object["tables"] = d.lineage.tables.map { $0.map(\.text) as Any } ?? NSNull()
            object["parameters_schema"] = (try? JSONSerialization.jsonObject(with: Data(d.parametersSchema.utf8), options: [.fragmentsAllowed])) ?? d.parametersSchema
        }
        return object
    }
}


extension NetworkAccess {
    /// The kind, as JSON carries it: none, tcp_ports or any.
    public var kindName: String {
        switch self {
        case .none: "none"
        case .tcpPorts: "tcp_ports"
        case .any: "any"
        }
    }
}

/// A schedule as `schedule list --output json` and GET /v1/schedules show it.
public func scheduleJSON(_ status: ScheduleStatus) -> [String: Any] {
    ["flow": status.flow, "id": status.schedule.id, "cron": status.schedule.cron, "timezone": status.schedule.timezone,
     "enabled": status.schedule.enabled, "catch_up": status.schedule.catchUp.word, "overlap": status.schedule.overlap.rawValue,
     "last_fire": iso(status.lastFire), "warnings": status.warnings,
     "next": status.next.map { ["local": $0.rfc3339, "utc": $0.utcText] } ?? NSNull()]
}

/// A trigger's last evaluation as `schedule list --output json` and GET /v1/triggers show it.
public func triggerJSON(_ evaluation: TriggerEvaluation) -> [String: Any] {
    ["flow": evaluation.flow, "id": evaluation.trigger.id, "tables": evaluation.trigger.tables, "updated": evaluation.updated,
     "awaiting": evaluation.awaiting, "since": iso(evaluation.since), "cool_down_ends": iso(evaluation.coolDownEnds),
     "cool_down_minutes": evaluation.trigger.coolDownMinutes, "enabled": evaluation.trigger.enabled]
}
