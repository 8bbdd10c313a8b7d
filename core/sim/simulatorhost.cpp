#include "simulatorhost.h"

namespace Sluice {

SimulatorHost::SimulatorHost(const SimulatorConfig &config)
{
    m_thread.setObjectName(QStringLiteral("simulator"));
    m_thread.start();
    m_simulator = new Simulator(config); // no parent: it moves to its thread and is deleted there
    m_simulator->moveToThread(&m_thread);
}

SimulatorHost::~SimulatorHost()
{
    Simulator *simulator = m_simulator;
    QMetaObject::invokeMethod(
        simulator, [simulator] { delete simulator; }, Qt::BlockingQueuedConnection);
    m_thread.quit();
    m_thread.wait();
}

Result<quint16> SimulatorHost::listen(quint16 port)
{
    Result<quint16> result = Error{};
    QMetaObject::invokeMethod(
        m_simulator, [&] { result = m_simulator->listen(port); }, Qt::BlockingQueuedConnection);
    if (result) {
        m_port = *result;
    }
    return result;
}

Simulator::Stats SimulatorHost::stats()
{
    Simulator::Stats s;
    QMetaObject::invokeMethod(
        m_simulator, [&] { s = m_simulator->stats(); }, Qt::BlockingQueuedConnection);
    return s;
}

void SimulatorHost::setConfig(const SimulatorConfig &config)
{
    QMetaObject::invokeMethod(
        m_simulator, [&] { m_simulator->setConfig(config); }, Qt::BlockingQueuedConnection);
}

} // namespace Sluice
