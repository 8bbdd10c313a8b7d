#pragma once

#include "sim/simulator.h"

#include <QThread>

namespace Sluice {

/// A Simulator on a thread of its own, so that it does not share an event loop with the engine or the
/// GUI (the CLI's `--simulate` and the desktop application's "Try it"). All calls block briefly on
/// the simulator's thread. Create and destroy on one thread.
class SimulatorHost
{
public:
    explicit SimulatorHost(const SimulatorConfig &config);
    ~SimulatorHost();
    SimulatorHost(const SimulatorHost &) = delete;
    SimulatorHost &operator=(const SimulatorHost &) = delete;

    /// Listens on 127.0.0.1; port 0 picks a free one.
    Result<quint16> listen(quint16 port = 0);
    Simulator::Stats stats();
    void setConfig(const SimulatorConfig &config);
    quint16 port() const { return m_port; }

private:
    QThread m_thread;
    Simulator *m_simulator = nullptr;
    quint16 m_port = 0;
};

} // namespace Sluice
