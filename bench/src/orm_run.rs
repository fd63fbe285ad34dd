//! The ORM scenarios' runs and their report: the ORM against pg-wire by hand, scenario by
//! scenario, alternating sides as the driver scenarios alternate drivers, then one counting run
//! per side through the wire counter for the round trips.

use harness::TestServer;

use crate::orm_bench::{OrmBench, OrmScenario, Side, WireRun, count_wire};
use crate::scenarios::Measurement;
use crate::stats::{Summary, group};
use crate::wire_count::{WireCounter, WireCounts};
use crate::{BoxError, DBNAME, machine};

/// The most round trips a flush of 10,000 objects may take and still be "a handful" (the
/// issue's words): `BEGIN`, one pipelined batch per level of the foreign-key graph, `COMMIT`.
pub const FLUSH_ROUND_TRIPS_TARGET: u64 = 5;
/// The most the ORM may cost, as a time ratio to the hand-written code, for loads.
pub const LOAD_RATIO_TARGET: f64 = 1.3;

/// One ORM scenario's runs, in the order they were taken, and its wire counts.
pub struct OrmResult {
    pub scenario: OrmScenario,
    pub orm: Vec<Measurement>,
    pub hand: Vec<Measurement>,
    pub wire: WireRun,
}

impl OrmResult {
    /// The throughput summaries of the ORM's runs and of the hand side's.
    fn summaries(&self) -> Option<(Summary, Summary)> {
        let throughputs = |runs: &[Measurement]| -> Vec<f64> {
            runs.iter().map(Measurement::throughput).collect()
        };
        Some((
            Summary::of(&throughputs(&self.orm))?,
            Summary::of(&throughputs(&self.hand))?,
        ))
    }

    /// The ORM's time over the hand side's, from the median throughputs (1.3: the ORM takes 1.3x
    /// as long).
    fn time_ratio(&self) -> Option<f64> {
        let (orm, hand) = self.summaries()?;
        Some(hand.median / orm.median)
    }
}

/// Sets up the tables, then runs every selected ORM scenario.
pub async fn run(
    server: &TestServer,
    conninfo: &str,
    core: usize,
    scenarios: &[OrmScenario],
    runs: usize,
    only: Option<Side>,
) -> Result<Vec<OrmResult>, BoxError> {
    let config: pg_wire::Config = conninfo.parse()?;
    OrmBench::setup(&config).await?;
    let mut bench = OrmBench::connect(&config).await?;
    let (orm_backend, hand_backend) = bench.backend_pids().await?;
    let allowed =
        |pid: i32| u32::try_from(pid).map_or_else(|_| "?".to_owned(), machine::allowed_cpus);
    println!();
    println!(
        "== the ORM against pg-wire by hand (issue 4): one untimed warm-up run per side, then \
         {runs} timed runs each, alternating (orm first on even runs); then, untimed, one more \
         run per side through a counting proxy for the messages and round trips"
    );
    println!(
        "backends: the ORM pool's {orm_backend} (allowed CPUs: {}), by hand {hand_backend} \
         (allowed CPUs: {}); expected: {core}",
        allowed(orm_backend),
        allowed(hand_backend)
    );
    let counter = WireCounter::start(server.socket_dir(), server.port())?;
    let mut counted = OrmBench::connect(&counter.config(server.superuser(), DBNAME)).await?;

    let mut results = Vec::new();
    for &scenario in scenarios {
        println!();
        println!(
            "-- ({}) {}: {}",
            scenario.number(),
            scenario.name(),
            scenario.description()
        );
        let sides = |first: Side, second: Side| -> Vec<Side> {
            [first, second]
                .into_iter()
                .filter(|side| only.is_none_or(|only| only == *side))
                .collect()
        };
        for side in sides(Side::Orm, Side::Hand) {
            bench.run(side, scenario).await?;
        }
        let (mut orm, mut hand) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let order = if run % 2 == 0 {
                sides(Side::Orm, Side::Hand)
            } else {
                sides(Side::Hand, Side::Orm)
            };
            for side in order {
                let measurement = bench.run(side, scenario).await.map_err(|e| {
                    format!(
                        "({}) {} with {}: {e}",
                        scenario.number(),
                        scenario.name(),
                        side.name()
                    )
                })?;
                match side {
                    Side::Orm => orm.push(measurement),
                    Side::Hand => hand.push(measurement),
                }
            }
        }
        for (side, runs) in [(Side::Orm, &orm), (Side::Hand, &hand)] {
            let figures: Vec<String> = runs.iter().map(|m| group(m.throughput())).collect();
            println!(
                "   {:<15} {} per run: {}",
                side.name(),
                scenario.unit(),
                figures.join(" ")
            );
            let cpu: Vec<String> = runs
                .iter()
                .filter_map(Measurement::client_cpu_per_op_ns)
                .map(group)
                .collect();
            println!(
                "   {:<15} client CPU ns per object:  {}",
                side.name(),
                cpu.join(" ")
            );
        }
        if only.is_some() {
            // Profiling one side: no comparison, no counting run.
            continue;
        }
        let wire = count_wire(&counter, &mut counted, scenario).await?;
        for (side, counts) in [(Side::Orm, &wire.orm), (Side::Hand, &wire.hand)] {
            println!("   {:<15} wire: {}", side.name(), describe(counts));
        }
        let result = OrmResult {
            scenario,
            orm,
            hand,
            wire,
        };
        if let (Some((orm, hand)), Some(ratio)) = (result.summaries(), result.time_ratio()) {
            println!(
                "   median: orm {} / by hand {} objects/s: the ORM takes {ratio:.2}x the time",
                group(orm.median),
                group(hand.median)
            );
        }
        results.push(result);
    }
    Ok(results)
}

/// One side's wire counts, in words.
fn describe(c: &WireCounts) -> String {
    format!(
        "{} round trips (ReadyForQuery) = {} simple Query + {} Sync; {} statements executed \
         ({} Parse, {} Bind, {} Execute); {} KiB sent, {} KiB received",
        c.ready_for_query,
        c.queries,
        c.syncs,
        c.statements(),
        c.parses,
        c.binds,
        c.executes,
        c.bytes_to_server / 1024,
        c.bytes_to_client / 1024
    )
}

/// The results tables of the ORM scenarios.
pub fn print_report(results: &[OrmResult], runs: usize) {
    if results.is_empty() {
        return;
    }
    println!();
    println!(
        "== ORM results: median throughput of {runs} runs per side, [min-max] of the runs and the \
         interquartile range as % of the median; time ratio = orm time / by-hand time (above 1: \
         the ORM is slower; 1.30 means it takes 1.3x as long)"
    );
    println!(
        "{:<4} {:<32} {:<9} | {:>9} {:>19} {:>5} | {:>9} {:>19} {:>5} | {:>5}",
        "#", "scenario", "unit", "orm", "[min-max]", "IQR", "by hand", "[min-max]", "IQR", "time"
    );
    for result in results {
        let (Some((orm, hand)), Some(ratio)) = (result.summaries(), result.time_ratio()) else {
            continue;
        };
        println!(
            "{:<4} {:<32} {:<9} | {:>9} {:>19} {:>4.1}% | {:>9} {:>19} {:>4.1}% | {:>5.2}",
            result.scenario.number(),
            result.scenario.title(),
            result.scenario.unit(),
            group(orm.median),
            format!("[{}-{}]", group(orm.min), group(orm.max)),
            orm.iqr_percent(),
            group(hand.median),
            format!("[{}-{}]", group(hand.min), group(hand.max)),
            hand.iqr_percent(),
            ratio
        );
    }
    println!();
    println!(
        "== ORM, where the time goes: per object, median of the runs, in ns: the wall time, and \
         the CPU time of the client's thread (ORM, driver, runtime, the kernel's work for it; the \
         rest is the server's, on the same core, or waiting)"
    );
    println!(
        "{:<4} {:<32} | {:>9} {:>9} | {:>9} {:>9} | {:>9}",
        "#", "scenario", "orm", "cpu", "by hand", "cpu", "cpu ratio"
    );
    for result in results {
        let per_object = |runs: &[Measurement]| {
            let wall: Vec<f64> = runs
                .iter()
                .map(|m| m.elapsed.as_nanos() as f64 / m.ops as f64)
                .collect();
            let cpu: Vec<f64> = runs
                .iter()
                .filter_map(Measurement::client_cpu_per_op_ns)
                .collect();
            (
                Summary::of(&wall).map(|s| s.median),
                Summary::of(&cpu).map(|s| s.median),
            )
        };
        let (Some(orm_wall), orm_cpu) = per_object(&result.orm) else {
            continue;
        };
        let (Some(hand_wall), hand_cpu) = per_object(&result.hand) else {
            continue;
        };
        let show = |v: Option<f64>| v.map_or_else(|| "?".to_owned(), group);
        let ratio = orm_cpu
            .zip(hand_cpu)
            .map_or_else(|| "?".to_owned(), |(o, h)| format!("{:.2}", o / h));
        println!(
            "{:<4} {:<32} | {:>9} {:>9} | {:>9} {:>9} | {:>9}",
            result.scenario.number(),
            result.scenario.title(),
            group(orm_wall),
            show(orm_cpu),
            group(hand_wall),
            show(hand_cpu),
            ratio
        );
    }
    println!("(cpu ratio: the ORM's client CPU / the hand-written code's)");
    println!();
    println!(
        "== ORM, on the wire: per run, counted through a proxy in a separate run after a warm-up; \
         round trips = ReadyForQuery messages (one per Sync or simple Query, each a wait for the \
         server); statements = Execute + simple Query"
    );
    println!(
        "{:<4} {:<32} | {:>11} {:>10} {:>6} {:>6} | {:>11} {:>10} {:>6} {:>6}",
        "#",
        "scenario",
        "orm trips",
        "statements",
        "Parse",
        "Sync",
        "hand trips",
        "statements",
        "Parse",
        "Sync"
    );
    for result in results {
        let (o, h) = (&result.wire.orm, &result.wire.hand);
        println!(
            "{:<4} {:<32} | {:>11} {:>10} {:>6} {:>6} | {:>11} {:>10} {:>6} {:>6}",
            result.scenario.number(),
            result.scenario.title(),
            o.ready_for_query,
            o.statements(),
            o.parses,
            o.syncs,
            h.ready_for_query,
            h.statements(),
            h.parses,
            h.syncs
        );
    }
}

/// The targets for the ORM, each said met or not.
pub fn print_targets(results: &[OrmResult]) {
    if results.is_empty() {
        return;
    }
    println!();
    println!("== targets (issue 4)");
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    for result in results {
        let label = format!("({})", result.scenario.number());
        let title = result.scenario.title().trim_start();
        let ratio = result.time_ratio();
        match result.scenario {
            OrmScenario::Flush => {
                let trips = result.wire.orm.ready_for_query;
                println!(
                    "   {label:<5} {title:<32} ORM round trips {trips} <= {FLUSH_ROUND_TRIPS_TARGET} \
                     (a handful, not {}): {}",
                    group(result.wire.orm.executes as f64),
                    verdict(trips <= FLUSH_ROUND_TRIPS_TARGET)
                );
                if let Some(ratio) = ratio {
                    println!(
                        "   {label:<5} {title:<32} orm / by hand time {ratio:.2} (no target for \
                         flushes; for information)"
                    );
                }
            }
            OrmScenario::FlushExpire => {
                let trips = result.wire.orm.ready_for_query;
                if let Some(ratio) = ratio {
                    println!(
                        "   {label:<5} {title:<32} orm / by hand time {ratio:.2}, {trips} round \
                         trips (not in the issue's list; for information)"
                    );
                }
            }
            OrmScenario::Load | OrmScenario::Selectin => {
                if let Some(ratio) = ratio {
                    println!(
                        "   {label:<5} {title:<32} orm / by hand time {ratio:>5.2} <= \
                         {LOAD_RATIO_TARGET:.1}: {}",
                        verdict(ratio <= LOAD_RATIO_TARGET)
                    );
                }
            }
        }
    }
}
