print("placeholder until the load client lands")
