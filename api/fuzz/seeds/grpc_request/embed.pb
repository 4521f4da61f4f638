
minilm-l6-v2A man is eating food.bread