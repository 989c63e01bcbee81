// Traffic-tool cases (npm run bench -- --tools): the tools as users run them, in separate
// processes. Registration order is run order:
//  - replay-vale-60 (tool-replay.ts): nmts replay -t -K into a VALE switch;
//  - replay-pps-* / tcpreplay-pps-* (tool-rate.ts): --pps accuracy, ours and tcpreplay's
//    side by side, 1 kpps to 500 kpps;
//  - lb-4pipes-60 (tool-lb.ts): nmts lb from one input to 4 pipes in one thread;
//  - scrape-vale-60 (scrape.ts): a VALE pkt-gen pair with and without 200 concurrent scrapes
//    of nmts metrics --http (scrape-client.ts is the scraper);
//  - delivery-60, delivery-2mpps-60 (xproc-delivery.ts): the fraction of frames a pkt-gen
//    receiver in another process gets, unpaced and at 2 Mpps, against issue #9's target.
// Helpers shared by these files are in tool-kit.ts; tool-rx.ts, tool-ns-count.ts and
// tool-lb-worker.ts are the processes and threads they start.
import './tool-replay.js';
import './tool-rate.js';
import './tool-lb.js';
import './scrape.js';
import './xproc-delivery.js';
