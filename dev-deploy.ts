import { World } from './journey/world.ts';
import { readAssembly, deployStack } from './journey/stack.ts';
await fetch('http://127.0.0.1:5999/moto-api/reset', { method: 'POST' });
const w = await World.start({ motoEndpoint: 'http://127.0.0.1:5999', region: 'eu-central-1', workdir: '/tmp/jdev/wd', namespace: 'prod' });
w.nlbs.set('x', { name: 'x', arn: 'arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/net/contrast-coordinator-demo/0123456789abcdef', target: w.emu.address });
try {
  for (const s of await readAssembly('/tmp/journey-cdkout', 'eu-central-1')) {
    const d = await deployStack(w, s);
    console.log(d.outputs);
    console.log([...w.functions.values()].map((f) => f.env));
  }
} finally { await w.stop(); }
