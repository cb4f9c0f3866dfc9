import ArgumentParser

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policy", abstract: "Policy as code.")
}

struct PolicyBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policy", abstract: "Authorization decisions/s.")
}
