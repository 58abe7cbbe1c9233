import { EventEmitter } from "events";
const path = require("path");

const DEFAULT_LIMIT = 10;

class Queue extends EventEmitter {
  constructor(limit = DEFAULT_LIMIT) {
    super();
    this.items = [];
    this.limit = limit;
  }

  push(item) {
    if (this.isFull()) {
      throw new RangeError("queue is full");
    }
    this.items.push(item);
    this.emit("push", item);
    return this.items.length;
  }

  isFull() {
    return this.items.length >= this.limit;
  }

  drain(handler) {
    while (this.items.length > 0) {
      handler(this.items.shift());
    }
  }
}

function createQueue(limit) {
  return new Queue(limit);
}

const logItem = (item) => {
  console.log(path.basename(String(item)));
};

const helpers = {
  format: function (item) {
    return JSON.stringify(item);
  },
};

function main() {
  const q = createQueue(2);
  q.push("a.txt");
  q.drain(logItem);
  console.log(helpers.format({ done: true }));
}

main();

module.exports = { Queue, createQueue };

function sigDemo(a /* sigcomment */, b) { // sigcomment
  return a + b;
}
