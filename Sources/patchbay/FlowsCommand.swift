import ArgumentParser
import Foundation
import PatchbayViews
import PatchbayCore
import PatchbayEngine
import PatchbayModel

/// The project's flows: what there is to run, whether each is valid, and how each last ran.
struct FlowsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flows",
        abstract: "The project's flows (flows/): each one's phases, tasks, validity and last run.",
        subcommands: [List.self, Disable.self, Enable.self, Token.self],
        defaultSubcommand: List.self
    )
}

extension FlowsCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list",
            abstract: "List every flow in flows/, checked as `validate` checks it, with its last run.",
            discussion: "A flow that is not valid is listed with its first problem (`patchbay validate FLOW` shows them all).\n\n\(ExitCode.documentation(for: ExitCode.projectCodes))")
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global)
                var rows: [[String: Any]] = []
                for (file, checked, warnings) in try await engine.checkFlows() {
                    var row: [String: Any] = ["file": file]
                    switch checked {
                    case .success(let flow):
                        row["flow"] = flow.name
                        row["format"] = flow.format
                        row["phases"] = flow.phases.count
                        row["tasks"] = flow.tasks.count
                        row["valid"] = true
                        row["warnings"] = warnings.map(\.description)
                        if let last = try engine.runs(flow: flow.name, limit: 1).first {
                            row["last_run"] = ["id": last.id!, "status": last.status.rawValue, "started_at": iso(last.startedAt ?? last.createdAt)] as [String: Any]
                        }
                    case .failure(let flowError):
                        row["flow"] = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
                        row["valid"] = false
                        row["problems"] = flowError.issues.map(\.description)
                    }
                    rows.append(row)
                }
                if global.output == .json { printJSON(rows); return }
                if rows.isEmpty { print("No flows in \(engine.project.flowsDirectory). `patchbay init` writes an example."); return }
                print("FLOW".padded(24) + "FORMAT".padded(9) + "PHASES".padded(8) + "TASKS".padded(7) + "LAST RUN")
                for row in rows {
                    let name = (row["flow"] as? String ?? "?").padded(24)
                    guard row["valid"] as? Bool == true else {
                        print(name + "✗ not valid: " + ((row["problems"] as? [String])?.first ?? ""))
                        continue
                    }
                    let last = (row["last_run"] as? [String: Any]).map { "run \($0["id"]!) \($0["status"]!) at \($0["started_at"]!)" } ?? "never run"
                    print(name + (row["format"] as? String ?? "").padded(9) + String(row["phases"] as? Int ?? 0).padded(8)
                          + String(row["tasks"] as? Int ?? 0).padded(7) + last)
                }
            }
        }
    }
}

extension FlowsCommand {
    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "disable",
            abstract: "Stop a flow's unattended runs: its schedules, its triggers and runs started through the API.",
            discussion: "Fires while it is disabled are let go, not queued. A person may still run it with `patchbay run`. `patchbay flows enable FLOW` undoes it.")
        @Argument(help: "The flow's name.") var flow: String
        @Option(help: "Why, for whoever looks later.") var reason: String = "disabled by hand"
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global, needs: .runOrchestrations)
                try engine.setUnattendedRuns(of: flow, disabledBecause: reason)
                if global.output == .json { printJSON(["flow": flow, "disabled": true, "reason": reason]) } else { print("flow '\(flow)': unattended runs stopped (\(reason))") }
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "enable", abstract: "Allow a disabled flow's unattended runs again (from the next fire on).")
        @Argument(help: "The flow's name.") var flow: String
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global, needs: .runOrchestrations)
                try engine.setUnattendedRuns(of: flow, disabledBecause: nil)
                if global.output == .json { printJSON(["flow": flow, "disabled": false]) } else { print("flow '\(flow)': unattended runs allowed again") }
            }
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "token", abstract: "The flow's orchestration token, which tokens revoke/refresh do not touch.",
                                                        subcommands: [Rotate.self])

        struct Rotate: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "rotate",
                abstract: "Give the flow's orchestration token a new secret (printed once), atomically.",
                discussion: "The old secret stops working at once. The token stays the same one, so its schedules act with the new secret, and a run in progress finishes as it started.")
            @Argument(help: "The flow's name.") var flow: String
            @OptionGroup var project: ProjectOptions
            @OptionGroup var global: GlobalOptions

            func run() async throws {
                try await reportingErrors {
                    let engine = try project.engine(global, needs: .manageTokens)
                    let (token, secret) = try engine.rotateOrchestrationToken(flow: flow)
                    if global.output == .json { printJSON(["id": token.id!, "flow": flow, "secret": secret]) } else {
                        print("new secret for the orchestration token of '\(flow)' (token \(token.id!), shown once): \(secret)")
                    }
                }
            }
        }
    }
}
