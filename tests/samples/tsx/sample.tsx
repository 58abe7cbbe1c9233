import React, { useState } from "react";

interface ButtonProps {
  label: string;
  onClick(): void;
}

export function Button(props: ButtonProps) {
  return <button onClick={props.onClick}>{props.label}</button>;
}

class Counter extends React.Component<{ start: number }, { count: number }> {
  state = { count: this.props.start };

  increment(): void {
    this.setState({ count: this.state.count + 1 });
  }

  render() {
    return <Button label={formatCount(this.state.count)} onClick={() => this.increment()} />;
  }
}

function formatCount(count: number): string {
  return `Count: ${count.toString()}`;
}

export const App = () => {
  const [visible, setVisible] = useState(true);
  const toggle = () => setVisible(!visible);
  return (
    <div>
      {visible && <Counter start={0} />}
      <Button label="toggle" onClick={toggle} />
    </div>
  );
};

function sigDemo(a: number /* sigcomment */, b: number): number { // sigcomment
  return a + b;
}
