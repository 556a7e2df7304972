// The next step after an error, in the CLI's words. The Engine, the Registry and Security say what is
// wrong and nothing more; only the CLI knows its own commands, so only it names them (as
// swift-argument-parser words its own usage errors). The HTTP API will say its own next steps.
import PatchbayEngine
import PatchbayModel
import PatchbayRegistry
import PatchbaySecurity

/// What to do about `error`, naming the command that helps, or nil when the message is enough.
func hint(for error: any Error) -> String? {
    switch error {
    case let error as EngineError:
        switch error {
        case .noSuchRun: "`patchbay jobs list` shows the runs"
        case .noRuns: "start one with `patchbay run FLOW`"
        case .noSuchTable: "`patchbay tables list` shows the catalog; a table appears when a job that writes it succeeds"
        case .invalidFlow(let flow) where flow.issues.contains(where: { $0.path.hasSuffix(".connector") }):
            "`patchbay plugins list` shows the installed connectors; `patchbay plugins install FILE` adds one"
        case .noSuchTask(_, let run, _): "`patchbay jobs show \(run)` shows each job of the run"
        case .invalidProject: "patchbay.yaml holds the project's name and rate_limits: {HOST: {per_second, burst}}"
        case .invalidFlow, .cannotRetry, .store: nil
        }
    case let error as AccessError:
        switch error {
        case .noToken:
            "pass --token, set PATCHBAY_TOKEN, or work inside a project made by `patchbay init` (it keeps the master token in .patchbay/master-token)"
        case .revoked: "ask for a new token: `patchbay tokens create`"
        case .expired: "renew it with `patchbay tokens refresh ID`, or create a new one"
        case .noSuchToken: "`patchbay tokens list` shows the tokens"
        case .orchestrationHasToken(let flow): "a flow has one orchestration token; give it a new secret with `patchbay flows token rotate \(flow)`"
        case .unknownToken, .lacks, .orchestrationToken: nil
        }
    case let error as RegistryError:
        switch error {
        case .unknownConnector, .unknownVersion: "`patchbay plugins list` shows the installed connectors and versions"
        case .quarantined, .fileNotFound, .installRefused, .io: nil
        }
    case let error as SecurityError:
        switch error {
        case .notCiphertext: "make one with `patchbay encrypt --connector ID`"
        case .keyFile: "`patchbay init` makes a project's keys"
        case .wrongConnector, .tampered: nil
        }
    default: nil
    }
}
