import XCTest

/// Every `Communicator` operation under mpirun, with exactly predictable data and ledger counts.
final class CollectivesTests: XCTestCase {
    func testEveryOperationAtEveryRankCount() throws {
        for p in rankCounts {
            let run = try SPSimProcess.run(["collectives", "--json"], ranks: p, timeoutSeconds: 60)
            XCTAssertEqual(run.status, 0, "P=\(p)\n\(run.stdout)\n\(run.stderr)")
            let json = try run.json()
            XCTAssertEqual(json["passed"] as? Bool, true, "P=\(p) \(run.stdout)")
            let operations = try XCTUnwrap(json["operations"] as? [[String: Any]])
            XCTAssertEqual(operations.count, 13)
            for o in operations {
                XCTAssertEqual(o["wrong_elements"] as? Int, 0, "P=\(p) \(o)")
                XCTAssertEqual(o["ledger_mismatches"] as? Int, 0, "P=\(p) \(o)")
            }
        }
    }

    /// A tiny eager limit turns latent send/send deadlocks into real ones; large blocks
    /// take the rendezvous path.
    func testNoDeadlockWithTinyEagerLimitOrLargeMessages() throws {
        let tiny = try SPSimProcess.run(["collectives", "--json", "--count", "300"], ranks: 4, timeoutSeconds: 60,
                                        environment: ["OMPI_MCA_btl_vader_eager_limit": "64"])
        XCTAssertEqual(tiny.status, 0, tiny.stderr)
        let large = try SPSimProcess.run(["collectives", "--json", "--count", "300000"], ranks: 3, timeoutSeconds: 60)
        XCTAssertEqual(large.status, 0, large.stderr)
    }
}
