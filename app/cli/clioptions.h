#pragma once

#include "config/projectconfig.h"
#include "engine/engine.h"
#include "gateway/gateway.h"
#include "sim/simulator.h"

#include <QString>
#include <QStringList>

#include <optional>

namespace Sluice::Cli {

/// Everything the command line asked for, validated.
struct CliOptions
{
    enum class Command { Run, Simulate, Serve, Help, Version };
    Command command = Command::Help;
    QString helpText;

    // run
    ProjectConfig project;
    RunOptions run;
    QString summaryPath;
    bool dryRun = false; ///< print the cost estimate and send nothing
    bool simulate = false;
    bool quiet = false;
    double progressIntervalS = 0; ///< 0 = automatic (a bar on a TTY, a line every 5 s otherwise)
    /// run, serve: --stream (every endpoint asks for streamed replies) and --stall-timeout S.
    bool stream = false;
    std::optional<double> stallTimeoutS;
    /// Applies --stream and --stall-timeout to the project's endpoints.
    void applyStreamOptions();

    // simulate (and the simulators of `run --simulate`)
    SimulatorConfig sim;
    quint16 simPort = 0;
    /// `simulate --rps-schedule`: (seconds after start, new rps) steps, in order.
    QList<QPair<double, double>> rpsSchedule;
    QString historyPath; ///< run: per-second history CSV

    // serve
    GatewayOptions gateway;
};

/// Parses `sluice-cli` arguments (arguments.first() is the program). Errors are usage errors (exit 2)
/// with a message that names the flag or file.
Result<CliOptions> parseArguments(const QStringList &arguments);

} // namespace Sluice::Cli
