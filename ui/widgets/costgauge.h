#pragma once

#include "metrics/metrics.h"

#include <QColor>
#include <QStringList>
#include <QWidget>

namespace Sluice::Gui {

class CostBar;
class CostText;

/// What a run spends against its budget, in the main window's status bar: a bar (spent solid,
/// committed to requests in flight lighter, a tick at the warning share) and a line of text such as
/// "$0.420 spent + $0.0300 in flight of $1.00 (45 %)". Amber from WarningShare of the budget, red once
/// spent and committed reach it or the run stopped at it ("budget reached: N lines not sent"); "no
/// budget" without one (the spend still shows), and "unpriced: model" when some model the run sends
/// has no price (its replies are not in the spend).
class CostGauge : public QWidget
{
    Q_OBJECT

public:
    enum class Level { Normal, Warning, Reached };
    static constexpr double WarningShare = 0.8;

    explicit CostGauge(QWidget *parent = nullptr);

    /// The budget set for the next run (shown until a run's first snapshot, and again after clear());
    /// 0 = none. A run on show keeps its own.
    void setBudget(double usd);
    /// The run's cost as of a snapshot; `notSent` the lines a stopped run left unsent (0 while running).
    void setCost(const Sluice::CostStats &cost, qint64 notSent = 0);
    /// "model at endpoint" pairs without a price (the preflight's estimate); shown by model name.
    void setUnpriced(const QStringList &pairs);
    /// Back to the budget alone: no run shown.
    void clear();

    Level level() const { return m_level; }
    /// Spent plus committed as a share of the budget (0 without one), what the bar shows.
    double share() const;
    /// The whole text (what shows may be elided at the end when the window is narrow; the tooltip has
    /// it too).
    QString text() const;
    /// The colours the bar and the text are drawn in now.
    QColor barColor() const;
    QColor textColor() const;
    /// The colour of the bar and the text at `level` (Normal: invalid, the palette's own).
    static QColor color(Level level);
    /// The level of `cost`: Reached when the run stopped at the budget or spent and committed reach
    /// it, Warning from WarningShare of it, else Normal (always Normal without a budget).
    static Level levelOf(const Sluice::CostStats &cost);

private:
    void refresh();

    CostBar *m_bar = nullptr;
    CostText *m_label = nullptr;
    Sluice::CostStats m_cost;
    bool m_haveRun = false;
    qint64 m_notSent = 0;
    double m_nextBudget = 0;
    QStringList m_unpriced;
    Level m_level = Level::Normal;
};

} // namespace Sluice::Gui
