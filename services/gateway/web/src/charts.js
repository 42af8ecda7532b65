// Chart.js, bundled (no CDN). Animations are off: numbers appear at once and stay put.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement,
  PointElement, Tooltip, Legend);

// Each function returns its Chart; the page that drew it destroys it in its dispose().
// Stacked bars of instrumented vs not, per bucket (top `limit` buckets by total).
export function coverageBars(canvas, buckets, limit = 12) {
  const top = buckets.slice(0, limit);
  const chart = new Chart(canvas, {
    type: 'bar',
    data: {
      labels: top.map((b) => b.key),
      datasets: [
        { label: 'Instrumented', data: top.map((b) => b.instrumented), backgroundColor: '#1f7a3a' },
        { label: 'Not instrumented', data: top.map((b) => b.total - b.instrumented), backgroundColor: '#b42318' },
      ],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      indexAxis: 'y',
      scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true } },
      plugins: { legend: { position: 'bottom' } },
    },
  });
  return chart;
}

export function trendLine(canvas, points) {
  const chart = new Chart(canvas, {
    type: 'line',
    data: {
      labels: points.map((p) => p.taken_at.slice(0, 16).replace('T', ' ')),
      datasets: [{
        label: 'Coverage %',
        data: points.map((p) => {
          const total = p.buckets.reduce((s, b) => s + b.total, 0);
          const inst = p.buckets.reduce((s, b) => s + b.instrumented, 0);
          return total ? Math.round((1000 * inst) / total) / 10 : 0;
        }),
        borderColor: '#0b5cad',
        backgroundColor: '#0b5cad',
      }],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: { y: { min: 0, max: 100 } },
    },
  });
  return chart;
}
