// Engine: what the operator does to a run (pause, resume, stop, abort, cancel one request, re-tune
// weights and limits live) and what it sees of it (the periodic snapshot). The scheduling itself is in
// engine.cpp.
#include "engine.h"

#include <algorithm>

namespace Sluice {

void Engine::pause()
{
    if (m_state == RunState::Running) {
        m_wakeTimer.stop();
        setState(RunState::Paused);
    }
}

void Engine::resume()
{
    if (m_state == RunState::Paused) {
        setState(RunState::Running);
        pump();
    }
}

void Engine::stop()
{
    if (m_state == RunState::Running || m_state == RunState::Paused) {
        m_wakeTimer.stop();
        setState(RunState::Stopping);
        maybeFinish();
    }
}

void Engine::abort()
{
    if (m_state == RunState::Finished || m_state == RunState::Idle) {
        return;
    }
    stop();
    m_transport->abortAll();
    maybeFinish();
}

void Engine::cancelRequest(qint64 line)
{
    for (const auto &[ticket, pending] : m_inFlight) {
        if (pending.request.line == line) {
            m_transport->cancel(ticket);
            return;
        }
    }
}

void Engine::setEndpointWeight(int endpoint, double weight)
{
    m_project.endpoints[endpoint].weight = std::max(0.0, weight);
    retuned(endpoint);
}

void Engine::setEndpointRpm(int endpoint, double rpm)
{
    m_project.endpoints[endpoint].rpm = std::max(0.0, rpm);
    retuned(endpoint);
}

void Engine::setEndpointTpm(int endpoint, double tpm)
{
    m_project.endpoints[endpoint].tpm = std::max(0.0, tpm);
    retuned(endpoint);
}

void Engine::setEndpointMaxInFlight(int endpoint, int maxInFlight)
{
    m_project.endpoints[endpoint].maxInFlight = std::max(1, maxInFlight);
    retuned(endpoint);
}

void Engine::setGlobalRps(double rps)
{
    m_project.limits.rps = std::max(0.0, rps);
    retuned(-1);
}

void Engine::setGlobalTpm(double tpm)
{
    m_project.limits.tpm = std::max(0.0, tpm);
    retuned(-1);
}

void Engine::retuned(int endpoint)
{
    if (endpoint >= 0) {
        const EndpointConfig &e = m_project.endpoints.at(endpoint);
        m_admission.setWeight(endpoint, e.weight);
        m_admission.setRates(endpoint, e.rpm, e.tpm);
        m_transport->setMaxInFlight(endpoint, e.maxInFlight);
    } else {
        m_admission.setGlobalRps(m_project.limits.rps);
        m_admission.setGlobalTpm(m_project.limits.tpm);
    }
    pump();
}

void Engine::tick()
{
    watchEndpointStates(-1);
    Q_EMIT snapshotReady(snapshot());
    m_tickTimer.start(m_options.tickMs);
}

MetricsSnapshot Engine::snapshot() const
{
    MetricsSnapshot s;
    m_metrics.fill(s, m_clock->nowMs());
    s.state = m_state;
    s.linesRead = m_queue.taken();
    if (m_source) {
        s.setProgress(m_source->progress());
    }
    s.inFlight = qint64(m_inFlight.size());
    s.queued = qint64(m_queue.freshCount() + m_queue.readyCount()) + (m_source ? m_source->backlog() : 0);
    s.waitingRetry = qint64(m_queue.waitingCount());
    for (int i = 0; i < int(m_project.endpoints.size()) && i < s.endpoints.size(); ++i) {
        EndpointStats &e = s.endpoints[i];
        e.name = m_project.endpoints.at(i).name;
        e.weight = m_project.endpoints.at(i).weight;
        e.inFlight = m_transport->inFlight(i);
        m_admission.fillStats(i, e);
    }
    if (m_admission.isShared()) {
        s.shared = m_admission.sharedStats();
    }
    m_admission.fillCostStats(s.cost);
    s.cost.budgetReached = m_budgetStopped;
    return s;
}

void Engine::carryEarlierSpend()
{
    const RunFiles::Spend earlier = m_files->earlierSpend();
    std::vector<double> byEndpoint;
    for (const EndpointConfig &e : m_project.endpoints) {
        byEndpoint.push_back(earlier.endpointUsd.value(e.name));
    }
    m_admission.addEarlierSpend(earlier.runUsd, byEndpoint);
    m_files->setSpendReport([this, earlier] {
        RunFiles::Spend spend = earlier; // endpoints gone from the project keep what they spent
        spend.runUsd += m_metrics.spentUsd();
        for (int i = 0; i < int(m_project.endpoints.size()); ++i) {
            if (const double usd = m_metrics.spentUsd(i); usd > 0) {
                spend.endpointUsd[m_project.endpoints.at(i).name] += usd;
            }
        }
        return spend;
    });
}

} // namespace Sluice
