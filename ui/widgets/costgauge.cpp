#include "costgauge.h"

#include "cost/costestimate.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QPainter>

#include <algorithm>
#include <cmath>

namespace Sluice::Gui {

/// The gauge's bar: spent (solid) and committed in flight (lighter) as shares of the budget, with a
/// tick at the warning share. Painted, so both parts show at once.
class CostBar : public QWidget
{
public:
    explicit CostBar(QWidget *parent)
        : QWidget(parent)
    {
        setObjectName(QStringLiteral("costBar"));
        setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
    }

    void set(double spent, double reserved, bool budgeted, const QColor &color)
    {
        m_spent = std::clamp(spent, 0.0, 1.0);
        m_reserved = std::clamp(reserved, 0.0, 1.0 - m_spent);
        m_budgeted = budgeted;
        m_color = color;
        update();
    }
    QColor fill() const { return m_color.isValid() ? m_color : palette().color(QPalette::Highlight); }
    QSize sizeHint() const override { return {110, std::max(10, fontMetrics().height() * 2 / 3)}; }

protected:
    void paintEvent(QPaintEvent *) override
    {
        QPainter p(this);
        const QRectF frame = QRectF(rect()).adjusted(0.5, 0.5, -0.5, -0.5);
        p.setPen(palette().color(QPalette::Mid));
        p.setBrush(palette().color(QPalette::Base));
        p.drawRect(frame);
        if (!m_budgeted) {
            return; // nothing to measure against
        }
        const QRectF inner = frame.adjusted(1, 1, -1, -1);
        const QColor color = fill();
        p.setPen(Qt::NoPen);
        p.setBrush(color);
        p.drawRect(QRectF(inner.left(), inner.top(), inner.width() * m_spent, inner.height()));
        QColor light = color;
        light.setAlphaF(0.4);
        p.setBrush(light);
        p.drawRect(QRectF(inner.left() + inner.width() * m_spent, inner.top(), inner.width() * m_reserved,
                          inner.height()));
        p.setPen(palette().color(QPalette::Text));
        const double tick = inner.left() + inner.width() * CostGauge::WarningShare;
        p.drawLine(QPointF(tick, inner.top()), QPointF(tick, inner.top() + inner.height() / 3));
    }

private:
    double m_spent = 0, m_reserved = 0;
    bool m_budgeted = false;
    QColor m_color;
};

/// The gauge's text: as wide as it needs when there is room, elided at the end when there is not (a
/// long list of unpriced models must not push the window wider than the screen).
class CostText : public QLabel
{
public:
    explicit CostText(QWidget *parent)
        : QLabel(parent)
    {
        setObjectName(QStringLiteral("costText"));
    }
    void setFullText(const QString &text)
    {
        m_full = text;
        updateGeometry();
        elide();
    }
    QString fullText() const { return m_full; }
    QSize sizeHint() const override
    {
        return {fontMetrics().horizontalAdvance(m_full) + 4, QLabel::sizeHint().height()};
    }
    QSize minimumSizeHint() const override
    {
        return {std::min(sizeHint().width(), 160), QLabel::minimumSizeHint().height()};
    }

protected:
    void resizeEvent(QResizeEvent *event) override
    {
        QLabel::resizeEvent(event);
        elide();
    }

private:
    void elide() { setText(fontMetrics().elidedText(m_full, Qt::ElideRight, std::max(0, width() - 4))); }

    QString m_full;
};

namespace {

/// Amounts below this are the rounding residue of settled reservations (spent and committed are sums of
/// doubles): shown as nothing rather than "$0.00000000".
constexpr double ResidueUsd = 1e-9;

QString usd(double value)
{
    return CostEstimate::formatUsd(value);
}

QString count(qint64 n)
{
    return QLocale(QLocale::English).toString(n);
}

/// "gpt-x at primary" -> "gpt-x"; each model once.
QStringList modelsOf(const QStringList &pairs)
{
    QStringList models;
    for (const QString &pair : pairs) {
        const qsizetype at = pair.lastIndexOf(QStringLiteral(" at "));
        const QString model = at > 0 ? pair.left(at) : pair;
        if (!models.contains(model)) {
            models.append(model);
        }
    }
    return models;
}

} // namespace

CostGauge::CostGauge(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("costGauge"));
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(5);
    m_bar = new CostBar(this);
    m_label = new CostText(this);
    layout->addWidget(m_bar, 0, Qt::AlignVCenter);
    layout->addWidget(m_label);
    refresh();
}

QColor CostGauge::color(Level level)
{
    // The endpoints table's state colours: mid-luminance, readable on light and dark palettes.
    switch (level) {
    case Level::Warning:
        return QColor(0xd0, 0x8a, 0x10);
    case Level::Reached:
        return QColor(0xe0, 0x50, 0x48);
    case Level::Normal:
        break;
    }
    return QColor();
}

CostGauge::Level CostGauge::levelOf(const CostStats &cost)
{
    if (cost.budgetReached) {
        return Level::Reached;
    }
    if (cost.budgetUsd <= 0) {
        return Level::Normal;
    }
    // A hair of tolerance: sums of many small costs land a rounding error below the budget they fill.
    const double share = cost.budgetShare();
    return share >= 1.0 - 1e-9             ? Level::Reached
           : share >= WarningShare - 1e-12 ? Level::Warning
                                           : Level::Normal;
}

void CostGauge::setBudget(double usd)
{
    m_nextBudget = usd;
    if (!m_haveRun) {
        clear();
    }
}

void CostGauge::setCost(const CostStats &cost, qint64 notSent)
{
    m_cost = cost;
    m_notSent = notSent;
    m_haveRun = true;
    refresh();
}

void CostGauge::setUnpriced(const QStringList &pairs)
{
    m_unpriced = pairs;
    refresh();
}

void CostGauge::clear()
{
    m_cost = CostStats();
    m_cost.budgetUsd = m_nextBudget;
    m_cost.limited = m_nextBudget > 0;
    m_notSent = 0;
    m_haveRun = false;
    refresh();
}

double CostGauge::share() const
{
    return m_cost.budgetShare();
}

QString CostGauge::text() const
{
    return m_label->fullText();
}

QColor CostGauge::barColor() const
{
    return m_bar->fill();
}

QColor CostGauge::textColor() const
{
    return m_label->palette().color(QPalette::WindowText);
}

void CostGauge::refresh()
{
    const CostStats &c = m_cost;
    m_level = m_haveRun ? levelOf(c) : Level::Normal;
    QString text;
    if (!m_haveRun) {
        text = c.budgetUsd > 0 ? tr("Budget %1, nothing spent yet").arg(usd(c.budgetUsd))
                               : tr("Cost: no budget");
    } else {
        text = tr("%1 spent").arg(usd(c.spentUsd));
        if (c.earlierUsd > 0) {
            text += tr(" (+ %1 before the resume)").arg(usd(c.earlierUsd));
        }
        if (c.reservedUsd > ResidueUsd) {
            text += tr(" + %1 in flight").arg(usd(c.reservedUsd));
        }
        if (c.budgetUsd > 0) {
            text +=
                tr(" of %1 (%2 %)").arg(usd(c.budgetUsd)).arg(std::floor(share() * 100.0 + 1e-9), 0, 'f', 0);
        } else {
            text += c.limited ? tr(" · endpoint budgets only") : tr(" · no budget");
        }
    }
    if (m_level == Level::Reached) {
        const QString why = m_notSent > 0     ? tr("budget reached: %1 lines not sent").arg(count(m_notSent))
                            : c.budgetReached ? tr("budget reached: no new requests")
                                              : tr("budget reached");
        text = why + QStringLiteral(" · ") + text;
    }
    const QStringList models = modelsOf(m_unpriced);
    if (!models.isEmpty()) {
        text += tr(" · unpriced: %1").arg(models.join(QStringLiteral(", ")));
    } else if (c.unpricedReplies > 0) {
        text += tr(" · unpriced: %1 replies of models without a price").arg(count(c.unpricedReplies));
    }
    m_label->setFullText(text);
    QPalette palette = m_label->palette();
    palette.setColor(QPalette::WindowText,
                     m_level == Level::Normal ? this->palette().color(QPalette::WindowText) : color(m_level));
    m_label->setPalette(palette);
    const double spentShare = c.budgetUsd > 0 ? c.runSpentUsd() / c.budgetUsd : 0;
    const double reservedShare = c.budgetUsd > 0 ? c.reservedUsd / c.budgetUsd : 0;
    m_bar->set(spentShare, reservedShare, c.budgetUsd > 0, color(m_level));
    m_bar->setVisible(c.budgetUsd > 0); // an empty bar would read as 0 % of something
    QStringList tip{
        text, tr("What the run spent (priced replies) and what is committed to requests in flight (their "
                 "worst case), against limits.max_cost_usd (Run ▸ Settings). Amber from %1 %, red at "
                 "the budget: the run then stops sending.")
                  .arg(int(WarningShare * 100))};
    if (!m_unpriced.isEmpty() || c.unpricedReplies > 0) {
        tip.append(tr("No price for: %1. Their replies (%2 so far) are not in the spend; give the endpoint a "
                      "\"price\" block in the project.")
                       .arg(m_unpriced.isEmpty() ? tr("some model") : m_unpriced.join(QStringLiteral(", ")),
                            count(c.unpricedReplies)));
    }
    setToolTip(tip.join(QStringLiteral("\n\n")));
}

} // namespace Sluice::Gui
