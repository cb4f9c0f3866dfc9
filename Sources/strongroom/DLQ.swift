import ArgumentParser
import Foundation
import Strongroom

struct DLQCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Dead letters: list them (without content) and replay them once their cause is fixed.",
        discussion: """
            A consumer sets aside, in <topic>.dlq, every record it cannot verify or read (a bad signature, an \
            untrusted producer key, a replayed record, a schema problem), still encrypted and with the reason. \
            `list` shows where each came from and why, never its content; `replay` re-verifies each with the \
            keys the policy trusts now and appends those that pass back to the topic, in order.

              strongroom dlq list --topic loan_applications --principal olga \\
                  --policy policy.json
              strongroom dlq replay --topic loan_applications --partition 0 \\
                  --principal olga --policy policy.json
            """,
        subcommands: [List.self, Replay.self]
    )

    struct Options: ParsableArguments {
        @OptionGroup var pipeline: PipelineOptions
        @Option(help: "The source topic (its dead letters are in <topic>.dlq).")
        var topic: String

        func replay() throws -> DeadLetterReplay {
            DeadLetterReplay(services: try pipeline.services(), principal: pipeline.principal)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a topic's dead letters: partition, offset, source, producer, reason; never content.",
            discussion: "Needs Describe on <topic>.dlq; the listing is audited."
        )
        @OptionGroup var options: Options
        @Option(help: "Most dead letters to list.")
        var limit = 1000
        @Flag(help: "Print JSON lines instead of text.")
        var json = false

        func run() throws {
            let letters: [DeadLetterReplay.Letter]
            do { letters = try options.replay().list(topic: options.topic, limit: limit) } catch let error as CLIError {
                throw error
            } catch { throw CLIError("\(error)") }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                for letter in letters { print(String(decoding: try encoder.encode(letter), as: UTF8.self)) }
                return
            }
            guard !letters.isEmpty else {
                print("No dead letters for \(options.topic).")
                return
            }
            // Header bytes are unverified: nothing but printable ASCII reaches the terminal.
            func safe(_ text: String) -> String {
                String(text.unicodeScalars.map { (0x20..<0x7F).contains($0.value) ? Character($0) : "?" })
            }
            for letter in letters {
                print(
                    "\(options.topic).dlq partition \(letter.partition) offset \(letter.offset): from "
                        + safe(letter.source) + (letter.producer.map { ", producer " + safe($0) } ?? "") + ": "
                        + safe(letter.reason)
                )
            }
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay one partition of a topic's dead letters back to the topic once their cause is fixed.",
            discussion: """
                Needs Consume on <topic>.dlq and Produce on the topic. Each record's signature is verified again \
                with the keys the policy trusts now; replay stops at the first that still fails, so nothing is \
                replayed out of order, and a later replay starts there. Audited before and after.
                """
        )
        @OptionGroup var options: Options
        @Option(help: "Partition of <topic>.dlq to replay.")
        var partition = 0

        func run() throws {
            let report: DeadLetterReplay.Report
            do { report = try options.replay().replay(topic: options.topic, partition: partition) } catch let error
                as CLIError
            {
                throw error
            } catch { throw CLIError("\(error)") }
            print(
                "Replayed \(report.replayed) dead letter(s) to \(options.topic); "
                    + "\(report.stillFailing) still fail verification and stay in \(options.topic).dlq."
            )
            if report.stillFailing > 0 { throw ExitCode(1) }
        }
    }
}
